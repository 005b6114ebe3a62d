// Runs the MDN HTTP Observatory against a loopback HTTPS host, in its own process, and checks an A+.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

// perimeter carries the scanner and depends on the Observatory package.
const perimeterDir = fileURLToPath(new URL('../../../packages/perimeter/', import.meta.url));
const scanner = join(perimeterDir, 'test', 'observatory-scan.mjs');

/** What the scanner prints: the Observatory's result, and every connection it made or refused. */
export interface ObservatoryScan {
  grade?: string;
  score?: number;
  error?: string;
  tests?: Record<string, { pass: boolean; result: string; scoreModifier: number }>;
  connections: { host: string; port: number; remoteAddress?: string }[];
  refused: string[];
}

/**
 * Gives the Observatory package the HSTS preload list it reads on start. Its postinstall
 * downloads that list; installs here skip it, and an empty list is all a loopback scan needs.
 */
export function prepareObservatory(): void {
  const entry = createRequire(join(perimeterDir, 'package.json')).resolve(
    '@mdn/mdn-http-observatory',
  );
  const preload = join(dirname(entry), '..', 'conf', 'hsts-preload.json');
  if (!existsSync(preload)) writeFileSync(preload, '{}');
}

/** Scans `target` (`host:port/path`), trusting `caFile` for its certificate. */
export function scanObservatory(target: string, caFile: string): Promise<ObservatoryScan> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [scanner],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, OBSERVATORY_TARGET: target },
        timeout: 45_000,
      },
      (err, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout) as ObservatoryScan);
        } catch {
          reject(err ?? new Error(`scanner printed no result: ${stderr}`));
        }
      },
    );
  });
}

/**
 * Asserts an A+ with no failing test and an HSTS max-age of at least six months, from a scan
 * that connected only to loopback.
 */
export function expectObservatoryAPlus(output: ObservatoryScan): void {
  expect(output.error).toBeUndefined();
  expect(output.refused).toEqual([]);
  expect(output.connections.length).toBeGreaterThan(0);
  for (const c of output.connections) {
    expect(c.remoteAddress).toMatch(/^(127\.|::1$|::ffff:127\.)/);
  }
  const failing = Object.entries(output.tests ?? {}).filter(([, t]) => !t.pass);
  expect(failing).toEqual([]);
  expect(output.tests?.['strict-transport-security']?.result).toBe(
    'hsts-implemented-max-age-at-least-six-months',
  );
  expect(output.grade).toBe('A+');
}
