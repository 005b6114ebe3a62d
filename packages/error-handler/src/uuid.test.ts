// Tests for the trace ids requestContext() makes: random version 4 UUIDs, as crypto.randomUUID makes.
import { describe, expect, it } from 'vitest';
import { randomTraceId } from './uuid.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomTraceId', () => {
  it('makes lower-case version 4 UUIDs with the RFC 9562 variant, across many batches', () => {
    const ids = Array.from({ length: 10_000 }, () => randomTraceId());
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws every random digit from the whole range', () => {
    const ids = Array.from({ length: 2_000 }, () => randomTraceId());
    // Each random hexadecimal digit position takes all 16 values; the variant digit its 4.
    for (let at = 0; at < 36; at++) {
      const digits = new Set(ids.map((id) => id[at]));
      if ([8, 13, 18, 23].includes(at)) expect(digits).toEqual(new Set(['-']));
      else if (at === 14) expect(digits).toEqual(new Set(['4']));
      else if (at === 19) expect(digits).toEqual(new Set(['8', '9', 'a', 'b']));
      else expect(digits.size, `position ${at}`).toBe(16);
    }
  });
});
