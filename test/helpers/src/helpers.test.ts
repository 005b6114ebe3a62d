// The shared helpers work against the real services they wrap.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  createTestPki,
  freePort,
  redisPrefix,
  requireService,
  startMosquitto,
  tlsListenerConfig,
} from './index.js';

const hasPg = await requireService('postgres');
const hasMosquitto = await requireService('mosquitto');

describe('ports and prefixes', () => {
  it('hands out distinct free ports and distinct Redis prefixes', async () => {
    const [a, b] = await Promise.all([freePort(), freePort()]);
    expect(a).toBeGreaterThan(0);
    expect(b).not.toBe(a);
    expect(redisPrefix('x')).not.toBe(redisPrefix('x'));
  });

  it('never hands out a port twice, though the system may offer a released one again at once', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 200; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(200);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});

describe.runIf(hasPg)('createTestDatabase', () => {
  it('creates a database that can be queried and drops it afterwards', async () => {
    const db = await createTestDatabase('helpers');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('SELECT current_database() AS name');
    await client.end();
    expect(rows[0].name).toBe(db.name);
    await db.drop();
    const admin = new pg.Client({
      connectionString:
        process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    });
    await admin.connect();
    const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    await admin.end();
    expect(left.rowCount).toBe(0);
  });
});

describe.runIf(hasMosquitto)('startMosquitto', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-mosq-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts an mTLS broker that completes a TLS handshake with a client certificate', async () => {
    const pki = createTestPki(join(dir, 'pki'), { clients: ['device-1'] });
    const broker = await startMosquitto({ dir, config: (port) => tlsListenerConfig(port, pki) });
    try {
      const { readFileSync } = await import('node:fs');
      const client = pki.clients['device-1']!;
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port: broker.port,
          servername: 'localhost',
          ca: readFileSync(pki.caFile),
          cert: readFileSync(client.certFile),
          key: readFileSync(client.keyFile),
        });
        socket.once('secureConnect', () => {
          resolve(socket.authorized);
          socket.destroy();
        });
        socket.once('error', reject);
      });
      expect(authorized).toBe(true);
    } finally {
      await broker.stop();
    }
  });
});
