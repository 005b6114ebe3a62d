// Request helpers shared by the authenticators: trace ids, safe paths and throttled warnings.
import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { pathOf, traceIdOf, warnThrottled } from './events.js';

const req = (fields: Record<string, unknown>) => fields as unknown as Request;

describe('request helpers', () => {
  it('reads req.id as the trace id, whatever set it', () => {
    expect(traceIdOf(req({ id: 'abc' }))).toBe('abc');
    expect(traceIdOf(req({ id: 42 }))).toBe('42');
    expect(traceIdOf(req({}))).toBeNull();
    expect(traceIdOf(req({ id: { nested: true } }))).toBeNull();
  });

  it('drops the query string, which may carry secrets, from logged paths', () => {
    expect(pathOf(req({ originalUrl: '/devices?api_key=secret' }))).toBe('/devices');
    expect(pathOf(req({ url: `/${'a'.repeat(1000)}` }))).toHaveLength(512);
  });

  it('warns once per interval for the same code', () => {
    const seen: string[] = [];
    const logger = { error: () => {}, warn: (m: string) => seen.push(m), info: () => {} };
    warnThrottled(logger, 'ERR_TEST_ONE', 'first', {}, 60_000);
    warnThrottled(logger, 'ERR_TEST_ONE', 'second', {}, 60_000);
    warnThrottled(logger, 'ERR_TEST_TWO', 'other', {}, 60_000);
    expect(seen).toEqual(['first', 'other']);
  });
});
