// checkConfig()/assertSafeConfig(): every unsafe setting is an error in production, a warning in development.
import { randomBytes } from 'node:crypto';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { assertSafeConfig, checkConfig, type SafeConfigInput } from './check-config.js';

const strong = randomBytes(32).toString('base64url');

const safe = (): SafeConfigInput => {
  const app = express();
  app.set('trust proxy', 'loopback');
  return {
    name: 'iot-api',
    version: '1.2.0',
    env: 'production',
    app,
    cors: { origins: 'https://app.example.com' },
    secrets: { JWT_SECRET: strong },
    docs: { enabled: true, allowlist: ['192.168.1.0/24'] },
    debug: false,
    mqtt: 'mqtts://device:pw@broker.example.com:8883',
    database: { url: 'postgres://app:hunter2@db.example.com:5432/iot?sslmode=verify-full' },
    rateLimit: true,
  };
};

const unsafe = (env: string | undefined): SafeConfigInput => {
  const app = express();
  app.set('trust proxy', true);
  return {
    env,
    app,
    cors: { origins: '*' },
    secrets: { JWT_SECRET: 'changeme', SESSION_SECRET: undefined },
    docs: { enabled: true },
    debug: true,
    mqtt: { url: 'mqtt://broker.example.com:1883' },
    database: { url: 'postgres://app:hunter2@db.example.com:5432/iot' },
    rateLimit: { enabled: false },
  };
};

describe('checkConfig', () => {
  it('passes a safe production setup and prints a banner of what is on, without credentials', () => {
    const report = checkConfig(safe());
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.banner).toContain('Security configuration of iot-api 1.2.0: production');
    expect(report.banner).toMatch(/CORS\s+https:\/\/app\.example\.com \(credentials off\)/);
    expect(report.banner).toMatch(/MQTT\s+mqtts:\/\/broker\.example\.com:8883 \(TLS\)/);
    expect(report.banner).toMatch(
      /database\s+postgres:\/\/db\.example\.com:5432\/iot \(TLS, verified\)/,
    );
    expect(report.banner).toMatch(/trust proxy\s+loopback/);
    expect(report.banner).not.toContain('hunter2');
    expect(report.banner).not.toContain('device:pw');
    expect(report.banner).not.toContain(strong);
  });

  it('says a secret built from words and sequences is guessable, naming the variable and not the value', () => {
    const guessable = 'passwordpasswordpassword12345678';
    const report = checkConfig({ env: 'production', secrets: { JWT_SECRET: guessable } });
    const finding = report.findings.find((f) => f.id === 'secret_weak');
    expect(finding?.message).toContain(
      'JWT_SECRET is built from words, names, sequences or repeats',
    );
    expect(report.banner).toContain('JWT_SECRET WEAK (guessable)');
    expect(JSON.stringify(report)).not.toContain(guessable);
  });

  it('lists every unsafe setting as an error in production', () => {
    const report = checkConfig(unsafe('production'));
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => f.id).sort()).toEqual(
      [
        'cors_wildcard',
        'database_plaintext',
        'debug_enabled',
        'docs_exposed',
        'mqtt_plaintext',
        'rate_limit_disabled',
        'secret_weak',
        'secret_weak',
        'trust_proxy_all',
      ].sort(),
    );
    expect(report.findings.every((f) => f.severity === 'error')).toBe(true);
    expect(report.banner).not.toContain('changeme');
    expect(report.banner).not.toContain('hunter2');
  });

  it('lists the same settings as warnings in development', () => {
    const report = checkConfig(unsafe('development'));
    expect(report.ok).toBe(true);
    expect(report.findings.length).toBe(9);
    expect(report.findings.every((f) => f.severity === 'warning')).toBe(true);
  });

  it('catches an unset NODE_ENV where the deployment is known to be production', () => {
    const report = checkConfig({ ...safe(), env: undefined, production: true });
    expect(report.findings).toEqual([
      expect.objectContaining({ id: 'node_env_unset', severity: 'error' }),
    ]);
    expect(checkConfig({ env: undefined }).findings).toEqual([
      expect.objectContaining({ id: 'node_env_unset', severity: 'warning' }),
    ]);
  });

  it('treats * with credentials as an error even in development', () => {
    const report = checkConfig({ env: 'development', cors: { origins: ['*'], credentials: true } });
    expect(report.findings).toEqual([
      expect.objectContaining({ id: 'cors_wildcard_credentials', severity: 'error' }),
    ]);
  });

  it('only warns about plaintext to loopback services and unverified database TLS', () => {
    const report = checkConfig({
      env: 'production',
      mqtt: 'mqtt://127.0.0.1:1883',
      database: { url: 'postgres://localhost/iot', ssl: { rejectUnauthorized: false } },
    });
    expect(report.findings).toEqual([
      expect.objectContaining({ id: 'mqtt_plaintext', severity: 'warning' }),
      expect.objectContaining({ id: 'database_tls_unverified', severity: 'warning' }),
    ]);
  });

  it('reports a trust proxy that trusts public addresses, not only true, as trust_proxy_all', () => {
    const spoofable: unknown[] = [
      '0.0.0.0/1,128.0.0.0/1',
      '0.0.0.0/128.0.0.0, 128.0.0.0/128.0.0.0',
      '::ffff:0.0.0.0/97, ::ffff:128.0.0.0/97',
      ['10.0.0.0/8', '::/1', '8000::/1'],
      100,
      () => true,
    ];
    for (const trustProxy of spoofable) {
      const report = checkConfig({ env: 'production', trustProxy });
      expect(report.findings, String(trustProxy)).toEqual([
        expect.objectContaining({ id: 'trust_proxy_all', severity: 'error' }),
      ]);
      expect(report.banner).toContain('TRUSTS PUBLIC CLIENTS');
    }
    const app = express();
    app.set('trust proxy', '0.0.0.0/1,128.0.0.0/1');
    expect(() => assertSafeConfig({ env: 'production', app })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_UNSAFE_CONFIG',
        message: expect.stringMatching(
          /"0\.0\.0\.0\/1,128\.0\.0\.0\/1" and trusts the public address/,
        ),
      }),
    );
  });

  it('accepts loopback, private ranges, a few hops and no proxy at all', () => {
    for (const trustProxy of [
      'loopback',
      'loopback, linklocal, uniquelocal',
      ['10.0.0.0/8', '172.16.0.0/12', 'fc00::/7'],
      '203.0.113.7',
      1,
      5,
      false,
      undefined,
    ]) {
      expect(checkConfig({ env: 'production', trustProxy }).findings, String(trustProxy)).toEqual(
        [],
      );
    }
  });

  it('refuses a trust proxy function in production until it is marked as reviewed', () => {
    const app = express();
    app.set('trust proxy', (addr: string) => addr === '10.0.0.5');
    expect(checkConfig({ env: 'production', app }).findings).toEqual([
      expect.objectContaining({ id: 'trust_proxy_function', severity: 'error' }),
    ]);
    expect(checkConfig({ env: 'development', app }).findings).toEqual([
      expect.objectContaining({ id: 'trust_proxy_function', severity: 'warning' }),
    ]);
    const reviewed = checkConfig({ env: 'production', app, trustProxyFunctionReviewed: true });
    expect(reviewed.findings).toEqual([]);
    expect(reviewed.banner).toMatch(/trust proxy\s+a custom function/);
    expect(reviewed.banner).not.toContain('10.0.0.5');
  });

  it('refuses a trustProxy value Express itself would refuse', () => {
    expect(() => checkConfig({ env: 'production', trustProxy: 'not-an-address' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
    );
  });

  it('catches a misspelled section name', () => {
    expect(() => checkConfig({ ...safe(), rateLimits: true } as never)).toThrow(
      /Did you mean `rateLimit`/,
    );
  });
});

describe('assertSafeConfig', () => {
  it('refuses to start an unsafe production app, listing every error', () => {
    let thrown: unknown;
    try {
      assertSafeConfig(unsafe('production'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'ERR_BULWARK_PERIMETER_UNSAFE_CONFIG' });
    expect((thrown as Error).message).toMatch(/Refusing to start with 9 unsafe setting/);
    expect((thrown as Error).message).toContain('trust_proxy_all');
    expect((thrown as Error).message).not.toContain('changeme');
    expect((thrown as { findings: unknown[] }).findings).toHaveLength(9);
  });

  it('logs the banner and each warning in development, and returns the report', () => {
    const infos: string[] = [];
    const warnings: string[] = [];
    const logger = { info: (m: string) => infos.push(m), warn: (m: string) => warnings.push(m) };
    const report = assertSafeConfig({ ...unsafe('development'), logger });
    expect(report.ok).toBe(true);
    expect(infos).toEqual([report.banner]);
    expect(warnings).toHaveLength(9);
  });
});
