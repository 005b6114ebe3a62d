// Socket, OpenSSL and mqtt.js errors map to stable connection error codes, on every Node's OpenSSL.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { type RunningMosquitto, requireService, startMosquitto } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectSecureOptions, connectSecure } from './connect.js';
import { toConnectionError } from './connection-errors.js';
import { MqttConnectionError } from './errors.js';

const withCode = (code: string | number, message = 'x') =>
  Object.assign(new Error(message), { code });

// What Node raises when the broker's alert arrives while the CONNECT is being written (TLS 1.2):
// errno's EPROTO, with the OpenSSL error only in the text. Taken from Node 20 and Node 24.
const eproto = {
  openssl30: (reason: string, alert: number, packed: string) =>
    withCode(
      'EPROTO',
      `write EPROTO 802C08C1017F0000:error:${packed}:SSL routines:ssl3_read_bytes:sslv3 alert ${reason}:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number ${alert}\n`,
    ),
  openssl35: (reason: string, alert: number, packed: string) =>
    withCode(
      'EPROTO',
      `write EPROTO 40BDEC7BD27F0000:error:${packed}:SSL routines:ssl3_read_bytes:ssl/tls alert ${reason}:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number ${alert}\n`,
    ),
};

describe('toConnectionError', () => {
  it.each([
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'client_certificate_required'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'client_certificate_untrusted'],
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'client_certificate_untrusted'],
    ['ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'client_certificate_untrusted'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'client_certificate_expired'],
    ['ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED', 'client_certificate_expired'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED', 'client_certificate_revoked'],
    ['ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_REVOKED', 'client_certificate_revoked'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'server_certificate_untrusted'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'server_certificate_untrusted'],
    ['CERT_HAS_EXPIRED', 'server_certificate_expired'],
    ['CERT_REVOKED', 'server_certificate_revoked'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'server_hostname_mismatch'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls_protocol_mismatch'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'tls_version_rejected'],
    ['ERR_SSL_SOMETHING_NEW', 'tls_handshake_failed'],
    ['ECONNREFUSED', 'connection_refused'],
    ['ENOTFOUND', 'host_not_found'],
  ])('maps %s to %s and keeps the original code', (nodeCode, code) => {
    const error = toConnectionError(withCode(nodeCode), { sentCertificate: true });
    expect(error).toMatchObject({ code, tlsCode: nodeCode });
  });

  it('reads a TLS 1.2 handshake failure as a missing certificate only when none was sent, in both OpenSSL spellings', () => {
    for (const nodeCode of [
      'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
      'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE',
    ]) {
      const failure = withCode(nodeCode);
      expect(toConnectionError(failure, { sentCertificate: false })?.code).toBe(
        'client_certificate_required',
      );
      expect(toConnectionError(failure, { sentCertificate: true })?.code).toBe(
        'tls_handshake_failed',
      );
    }
  });

  it.each([
    ['certificate expired', 45, '0A000415', 'client_certificate_expired'],
    ['certificate revoked', 44, '0A000414', 'client_certificate_revoked'],
    ['bad certificate', 42, '0A000412', 'client_certificate_untrusted'],
  ])(
    'reads the alert "%s" from an EPROTO write error of OpenSSL 3.0 and 3.5',
    (reason, alert, packed, code) => {
      for (const error of [
        eproto.openssl30(reason, alert, packed),
        eproto.openssl35(reason, alert, packed),
      ]) {
        expect(toConnectionError(error, { sentCertificate: true })).toMatchObject({
          code,
          tlsCode: 'EPROTO',
        });
      }
    },
  );

  it('reads an EPROTO write error that quotes unknown_ca, certificate_required or handshake_failure', () => {
    const context = { sentCertificate: true };
    expect(
      toConnectionError(
        withCode(
          'EPROTO',
          'write EPROTO 40BDEC7BD27F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 48\n',
        ),
        context,
      )?.code,
    ).toBe('client_certificate_untrusted');
    expect(
      toConnectionError(eproto.openssl35('handshake failure', 40, '0A000410'), {
        sentCertificate: false,
      })?.code,
    ).toBe('client_certificate_required');
    expect(
      toConnectionError(eproto.openssl35('handshake failure', 40, '0A000410'), context)?.code,
    ).toBe('tls_handshake_failed');
  });

  it('keeps an EPROTO without an OpenSSL error line as tls_protocol_mismatch, and one from another OpenSSL library as tls_handshake_failed', () => {
    const context = { sentCertificate: true };
    expect(toConnectionError(withCode('EPROTO', 'read EPROTO'), context)?.code).toBe(
      'tls_protocol_mismatch',
    );
    // Library 6 (EVP) with reason 0x415: the same low bits as certificate_expired, another error.
    expect(
      toConnectionError(
        withCode('EPROTO', 'write EPROTO 40BDEC7BD27F0000:error:03000415:digital envelope'),
        context,
      )?.code,
    ).toBe('tls_protocol_mismatch');
    expect(
      toConnectionError(
        withCode('EPROTO', 'write EPROTO 40BDEC7BD27F0000:error:0A000086:SSL routines::x'),
        context,
      )?.code,
    ).toBe('tls_handshake_failed');
  });

  it('maps CONNACK refusals by reason code', () => {
    const context = { sentCertificate: false };
    expect(
      toConnectionError(withCode(0x87, 'Connection refused: Not authorized'), context),
    ).toMatchObject({ code: 'broker_not_authorized', reasonCode: 0x87 });
    expect(
      toConnectionError(withCode(4, 'Connection refused: Bad username or password'), context)?.code,
    ).toBe('broker_bad_credentials');
    expect(
      toConnectionError(withCode(0x88, 'Connection refused: Server unavailable'), context)?.code,
    ).toBe('broker_refused');
  });

  it('maps mqtt.js timeouts and leaves unrelated errors alone', () => {
    const context = { sentCertificate: false };
    expect(toConnectionError(new Error('connack timeout'), context)?.code).toBe('connect_timeout');
    expect(toConnectionError(new Error('Keepalive timeout'), context)?.code).toBe(
      'keepalive_timeout',
    );
    expect(toConnectionError(new Error('Invalid topic devices/#'), context)).toBeUndefined();
  });
});

const hasMosquitto = await requireService('mosquitto');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Issued {
  file: string;
  certFile: string;
  keyFile: string;
}

/**
 * A CA made with the openssl CLI that can issue certificates for any validity period (expired
 * ones included) and publish a CRL; `createCertificates` only issues valid broker certificates.
 */
function opensslCa(dir: string, name: string) {
  mkdirSync(dir, { recursive: true });
  // Arguments are split on spaces: only file names this helper chose go into `command`.
  const run = (command: string, ...rest: string[]) =>
    execFileSync('openssl', [...command.split(' '), ...rest], { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  // A config of its own, so the machine's openssl.cnf cannot change what is issued.
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = this_ca',
      '[this_ca]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      'serial = $dir/serial',
      'crlnumber = $dir/crlnumber',
      'certificate = $dir/ca.crt',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'default_crl_days = 2',
      'policy = any_name',
      'unique_subject = no',
      'copy_extensions = none',
      '[any_name]',
      'commonName = supplied',
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = ca_extensions',
      '[dn]',
      '[ca_extensions]',
      'basicConstraints = critical, CA:true',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const newKey = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
  run(`req -config ca.cnf -x509 ${newKey} -keyout ca.key -days 2 -out ca.crt -subj`, `/CN=${name}`);
  const stamp = (ms: number) => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  return {
    caFile: join(dir, 'ca.crt'),
    crlFile: join(dir, 'ca.crl'),
    issue(
      file: string,
      cn: string,
      extensions: string[],
      { notBefore = Date.now() - HOUR, notAfter = Date.now() + 2 * DAY } = {},
    ): Issued {
      writeFileSync(join(dir, `${file}.ext`), ['[leaf]', ...extensions, ''].join('\n'));
      run(
        `req -config ca.cnf -new ${newKey} -keyout ${file}.key -out ${file}.csr -subj`,
        `/CN=${cn}`,
      );
      run(
        `ca -config ca.cnf -batch -notext -in ${file}.csr -out ${file}.crt -extfile ${file}.ext -extensions leaf -startdate ${stamp(notBefore)} -enddate ${stamp(notAfter)}`,
      );
      return { file, certFile: join(dir, `${file}.crt`), keyFile: join(dir, `${file}.key`) };
    },
    revoke(issued: Issued): void {
      run(`ca -config ca.cnf -revoke ${issued.file}.crt`);
    },
    writeCrl(): void {
      run('ca -config ca.cnf -gencrl -out ca.crl');
    },
  };
}

const BROKER = ['basicConstraints = CA:false', 'extendedKeyUsage = serverAuth'];
const DEVICE = ['basicConstraints = CA:false', 'extendedKeyUsage = clientAuth'];

describe.runIf(hasMosquitto)(
  "toConnectionError on the TLS failures of a real Mosquitto, as this Node's OpenSSL reports them",
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-mqtt-tls-errors-'));
    // Listeners of each broker: devices (mTLS, CRL), and brokers with a bad certificate of their own.
    const LISTENERS = ['devices', 'expired', 'wrongHost', 'revoked'] as const;
    type Listener = (typeof LISTENERS)[number];
    const brokers: RunningMosquitto[] = [];
    const ports: Record<'TLSv1.3' | 'TLSv1.2', Partial<Record<Listener, number>>> = {
      'TLSv1.3': {},
      'TLSv1.2': {},
    };
    let ca: ReturnType<typeof opensslCa>;
    let rogue: ReturnType<typeof opensslCa>;
    let device: Record<'valid' | 'expired' | 'revoked' | 'rogue', Issued>;

    const startBroker = async (
      version: 'TLSv1.3' | 'TLSv1.2',
      serverCerts: Record<Listener, Issued>,
    ): Promise<void> => {
      const free = await freePorts(LISTENERS.length);
      const lines = ['per_listener_settings true'];
      LISTENERS.forEach((listener, i) => {
        const port = free[i] as number;
        ports[version][listener] = port;
        const { certFile, keyFile } = serverCerts[listener];
        lines.push(
          `listener ${port} 127.0.0.1`,
          `cafile ${ca.caFile}`,
          `certfile ${certFile}`,
          `keyfile ${keyFile}`,
          'tls_version tlsv1.2',
        );
        if (listener === 'devices') {
          lines.push(
            'require_certificate true',
            'use_identity_as_username true',
            'allow_anonymous false',
            `crlfile ${ca.crlFile}`,
          );
        } else {
          lines.push('require_certificate false', 'allow_anonymous true');
        }
      });
      // Mosquitto has no setting for the highest TLS version; OpenSSL's own config caps it.
      const opensslConf = join(dir, 'tls12-only.cnf');
      writeFileSync(
        opensslConf,
        'openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = defaults\n[defaults]\nMaxProtocol = TLSv1.2\n',
      );
      const previous = process.env.OPENSSL_CONF;
      if (version === 'TLSv1.2') process.env.OPENSSL_CONF = opensslConf;
      try {
        brokers.push(
          await startMosquitto({
            dir: join(dir, `broker-${version}`),
            port: ports[version].devices as number,
            config: () => `${lines.join('\n')}\n`,
          }),
        );
      } finally {
        if (previous === undefined) delete process.env.OPENSSL_CONF;
        else process.env.OPENSSL_CONF = previous;
      }
    };

    beforeAll(async () => {
      ca = opensslCa(join(dir, 'ca'), 'Bulwark Test CA');
      rogue = opensslCa(join(dir, 'rogue'), 'Bulwark Test CA');
      const hosts = 'subjectAltName = DNS:localhost, IP:127.0.0.1';
      const revokedBroker = ca.issue('broker-revoked', 'localhost', [...BROKER, hosts]);
      device = {
        valid: ca.issue('dev-a', 'dev-a', DEVICE),
        expired: ca.issue('old', 'old', DEVICE, {
          notBefore: Date.now() - 10 * DAY,
          notAfter: Date.now() - 9 * DAY,
        }),
        revoked: ca.issue('lost', 'lost', DEVICE),
        rogue: rogue.issue('dev-a', 'dev-a', DEVICE),
      };
      ca.revoke(revokedBroker);
      ca.revoke(device.revoked);
      ca.writeCrl();
      const serverCerts = {
        devices: ca.issue('broker', 'localhost', [...BROKER, hosts]),
        expired: ca.issue('broker-expired', 'localhost', [...BROKER, hosts], {
          notBefore: Date.now() - 10 * DAY,
          notAfter: Date.now() - 9 * DAY,
        }),
        wrongHost: ca.issue('broker-elsewhere', 'broker.example', [
          ...BROKER,
          'subjectAltName = DNS:broker.example',
        ]),
        revoked: revokedBroker,
      };
      await startBroker('TLSv1.3', serverCerts);
      await startBroker('TLSv1.2', serverCerts);
    });

    afterAll(async () => {
      await Promise.all(brokers.map((broker) => broker.stop()));
      rmSync(dir, { recursive: true, force: true });
    });

    const options = (
      version: 'TLSv1.3' | 'TLSv1.2',
      listener: Listener,
      client?: Issued,
      extra: Partial<ConnectSecureOptions> = {},
    ): ConnectSecureOptions => ({
      url: `mqtts://127.0.0.1:${ports[version][listener]}`,
      caFile: ca.caFile,
      ...(client ? { certFile: client.certFile, keyFile: client.keyFile } : {}),
      reconnect: false,
      connectTimeoutMs: 3000,
      ...extra,
    });
    const refusal = async (connecting: ConnectSecureOptions): Promise<MqttConnectionError> => {
      const error = await connectSecure(connecting).then(
        async (client) => {
          await client.endAsync(true);
          throw new Error('connected, but a refusal was expected');
        },
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(MqttConnectionError);
      return error as MqttConnectionError;
    };

    describe.each(['TLSv1.3', 'TLSv1.2'] as const)('over %s', (version) => {
      it('connects a device with a valid certificate, over this TLS version', async () => {
        const client = await connectSecure(options(version, 'devices', device.valid));
        const protocol = (client.stream as unknown as TLSSocket).getProtocol();
        await client.endAsync(true);
        expect(protocol).toBe(version);
      });

      it('reads the broker refusing an expired client certificate as client_certificate_expired', async () => {
        const error = await refusal(options(version, 'devices', device.expired));
        expect(error.code).toBe('client_certificate_expired');
      });

      it('reads the broker refusing a revoked client certificate (CRL) as client_certificate_revoked', async () => {
        const error = await refusal(options(version, 'devices', device.revoked));
        expect(error.code).toBe('client_certificate_revoked');
      });

      it('reads the broker refusing a client certificate from a rogue CA with the same name as client_certificate_untrusted', async () => {
        const error = await refusal(options(version, 'devices', device.rogue));
        expect(error.code).toBe('client_certificate_untrusted');
      });

      it('reads the broker refusing a client without a certificate as client_certificate_required', async () => {
        const error = await refusal(options(version, 'devices'));
        expect(error.code).toBe('client_certificate_required');
      });

      it('refuses a broker whose certificate has expired with server_certificate_expired', async () => {
        const error = await refusal(options(version, 'expired'));
        expect(error).toMatchObject({
          code: 'server_certificate_expired',
          tlsCode: 'CERT_HAS_EXPIRED',
        });
      });

      it('refuses a broker whose certificate is signed by another CA with server_certificate_untrusted', async () => {
        const error = await refusal(
          options(version, 'devices', device.valid, { caFile: rogue.caFile }),
        );
        expect(error.code).toBe('server_certificate_untrusted');
      });

      it('refuses a broker whose certificate names another host with server_hostname_mismatch', async () => {
        const error = await refusal(options(version, 'wrongHost'));
        expect(error.code).toBe('server_hostname_mismatch');
      });

      it('refuses a broker whose certificate the CRL given as crlFile revokes with server_certificate_revoked', async () => {
        const error = await refusal(
          options(version, 'revoked', undefined, { crlFile: ca.crlFile }),
        );
        expect(error.code).toBe('server_certificate_revoked');
      });

      it('connects to a broker whose certificate is not on the CRL given as crlFile', async () => {
        const client = await connectSecure(
          options(version, 'devices', device.valid, { crlFile: ca.crlFile }),
        );
        const connected = client.connected;
        await client.endAsync(true);
        expect(connected).toBe(true);
      });
    });
  },
);

/** `count` TCP ports on 127.0.0.1 that were free a moment ago, all different. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.on('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
