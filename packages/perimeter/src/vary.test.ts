// Vary merging: corsPolicy() and secureHeaders() set exactly the Vary they set before their merges
// were memoized (corsPolicy: what Express's res.vary('Origin') sets), and the memos stay bounded.
import { IncomingMessage, type OutgoingHttpHeader, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express, { type Request, type Response } from 'express';
import { describe, expect, it } from 'vitest';
import { corsPolicy } from './cors-policy.js';
import { secureHeaders } from './secure-headers.js';
import {
  appendVaryField,
  VARY_MEMO_KEY_LENGTH,
  VARY_MEMO_LIMIT,
  varyAppender,
  varyText,
} from './vary.js';

/** A real Node response with Express's methods (res.vary among them), Vary set as given. */
function response(vary?: OutgoingHttpHeader): Response {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  Object.setPrototypeOf(res, express.response);
  if (vary !== undefined) res.setHeader('Vary', vary);
  return res as unknown as Response;
}

/** The Vary header as sent: its value (a string, a number or lines) and the name's spelling. */
const varyOf = (res: Response) => ({
  value: res.getHeader('Vary'),
  // Every OutgoingMessage has getRawHeaderNames(); @types/node declares it on ClientRequest only.
  names: (res as unknown as { getRawHeaderNames(): string[] })
    .getRawHeaderNames()
    .filter((name) => name.toLowerCase() === 'vary'),
});

const request = (headers: Record<string, string>) =>
  ({ headers, method: 'GET', url: '/items', originalUrl: '/items' }) as unknown as Request;

const run = (
  middleware: (req: Request, res: Response, next: (err?: unknown) => void) => void,
  req: Request,
  res: Response,
) => {
  let called = false;
  middleware(req, res, () => {
    called = true;
  });
  expect(called).toBe(true);
};

/** corsPolicy's Vary handling as it was: set `Origin` when there is no Vary, else res.vary(). */
function referenceVaryOrigin(res: Response): void {
  if (res.getHeader('Vary') === undefined) res.setHeader('Vary', 'Origin');
  else res.vary('Origin');
}

/** secureHeaders' Vary handling as it was, parsing the Vary on every response. */
function referenceAddVary(res: Response, value: string, names: readonly string[]): void {
  const existing = res.getHeader('Vary');
  if (existing === undefined) {
    res.setHeader('Vary', value);
    return;
  }
  const text = Array.isArray(existing) ? existing.join(', ') : String(existing);
  const present = text.split(',').map((v) => v.trim().toLowerCase());
  if (present.includes('*')) return;
  const missing = names.filter((name) => !present.includes(name.toLowerCase()));
  if (missing.length > 0)
    res.setHeader('Vary', text ? `${text}, ${missing.join(', ')}` : missing.join(', '));
}

// Vary values an app or an earlier middleware may have set: none, empty, the field already there
// in any case or spacing, `*` alone or in a list, tabs (which res.vary() does not trim), empty
// entries, several lines, and numbers.
const EXISTING: (OutgoingHttpHeader | undefined)[] = [
  undefined,
  '',
  'Origin',
  'origin',
  'ORIGIN',
  ' Origin ',
  'Accept',
  'Accept-Encoding, Origin',
  'Accept-Encoding,origin',
  'Accept-Encoding ,  Origin',
  'Accept,\tOrigin',
  'Accept, Origin\t',
  'Accept, Or igin',
  'Accept, Origin2',
  'Authorization, Cookie, X-API-Key',
  'authorization, cookie, x-api-key, origin',
  'Accept-Encoding, cookie',
  'X-Device-Token',
  '*',
  ' * ',
  '\t*',
  'Accept, *',
  '*, Accept',
  'Accept,\t*',
  'Accept,,',
  ',',
  ', ,',
  ['Accept', 'Origin'],
  ['Accept', 'Cookie'],
  ['Accept-Encoding', 'authorization'],
  ['*'],
  ['Accept', ' * '],
  ['Accept', ''],
  [],
  0,
  5,
];

describe('appendVaryField', () => {
  it("matches Express's res.vary() for every kind of existing Vary, in the same field spelling", () => {
    for (const existing of EXISTING) {
      for (const field of ['Origin', 'origin', 'X-API-Key']) {
        const theirs = response(existing);
        theirs.vary(field);
        const expected = theirs.getHeader('Vary');
        expect(appendVaryField(varyText(existing), field), JSON.stringify([existing, field])).toBe(
          expected,
        );
      }
    }
  });

  it('reads the header as res.vary() does: arrays joined, falsy values as none', () => {
    expect(varyText(undefined)).toBe('');
    expect(varyText('')).toBe('');
    expect(varyText(0)).toBe('');
    expect(varyText(5)).toBe('5');
    expect(varyText(['Accept', 'Origin'])).toBe('Accept, Origin');
    expect(varyText([])).toBe('');
  });
});

describe('varyAppender', () => {
  it('answers as res.vary() does from its memo, and keeps at most VARY_MEMO_LIMIT values', () => {
    const memo = varyAppender('Origin');
    const check = (text: string) => {
      const theirs = response(text);
      theirs.vary('Origin');
      expect(memo.get(text), text).toBe(theirs.getHeader('Vary'));
    };
    for (let i = 0; i < 10 * VARY_MEMO_LIMIT; i++) {
      check(i % 3 === 0 ? `Accept, X-H${i}` : i % 3 === 1 ? `X-H${i}, origin` : `X-H${i}, *`);
      expect(memo.size).toBeLessThanOrEqual(VARY_MEMO_LIMIT);
    }
    // The values in use come back after the burst, and a value too long to keep is still right.
    check('Authorization, Cookie, X-API-Key');
    check(`Accept, ${'X'.repeat(VARY_MEMO_KEY_LENGTH)}`);
    check(`Accept, ${'X'.repeat(VARY_MEMO_KEY_LENGTH)}, Origin`);
  });
});

describe('corsPolicy Vary', () => {
  it('sets the Vary it set before, for no Origin, an allowed and a refused one', () => {
    const cors = corsPolicy({ origins: ['https://app.example.com'] });
    for (const headers of [
      {},
      { origin: 'https://app.example.com' },
      { origin: 'https://evil.example' },
    ]) {
      // Twice over the table: the first pass fills the memo, the second answers from it.
      for (let pass = 0; pass < 2; pass++) {
        for (const existing of EXISTING) {
          const ours = response(existing);
          run(cors, request(headers), ours);
          const theirs = response(existing);
          referenceVaryOrigin(theirs);
          expect(varyOf(ours), JSON.stringify([headers, existing])).toEqual(varyOf(theirs));
        }
      }
    }
  });

  it("leaves Vary alone for origins '*', as before", () => {
    const cors = corsPolicy({ origins: '*' });
    for (const existing of EXISTING) {
      const res = response(existing);
      run(cors, request({ origin: 'https://app.example.com' }), res);
      run(cors, request({}), res);
      expect(res.getHeader('Vary')).toEqual(existing);
    }
  });
});

describe('secureHeaders Vary', () => {
  const cases: { credentialHeaders?: string[]; names: string[] }[] = [
    { names: ['Authorization', 'Cookie', 'X-API-Key'] },
    {
      credentialHeaders: ['authorization', 'X-Device-Token', 'COOKIE', 'Authorization'],
      names: ['authorization', 'X-Device-Token', 'COOKIE'],
    },
  ];

  it('adds the credential headers to Vary exactly as before, for every kind of existing Vary', () => {
    for (const { credentialHeaders, names } of cases) {
      const headers = secureHeaders(credentialHeaders ? { credentialHeaders } : undefined);
      for (let pass = 0; pass < 2; pass++) {
        for (const existing of EXISTING) {
          for (const reqHeaders of [{}, { authorization: 'Bearer x' }]) {
            const ours = response(existing);
            run(headers, request(reqHeaders), ours);
            const theirs = response(existing);
            referenceAddVary(theirs, names.join(', '), names);
            expect(varyOf(ours), JSON.stringify([credentialHeaders, existing])).toEqual(
              varyOf(theirs),
            );
          }
        }
      }
    }
  });

  it('stays right past the bound of its memo, for values of any length', () => {
    const headers = secureHeaders();
    const names = ['Authorization', 'Cookie', 'X-API-Key'];
    const values = Array.from({ length: 4 * VARY_MEMO_LIMIT }, (_, i) =>
      i % 2 === 0 ? `X-H${i}` : `X-H${i}, cookie`,
    );
    values.push(`Accept, ${'X'.repeat(VARY_MEMO_KEY_LENGTH)}`, 'Accept-Encoding');
    for (const existing of values) {
      const ours = response(existing);
      run(headers, request({}), ours);
      const theirs = response(existing);
      referenceAddVary(theirs, names.join(', '), names);
      expect(ours.getHeader('Vary')).toBe(theirs.getHeader('Vary'));
    }
  });

  it('then corsPolicy: the same Vary as the two did before, in the same order', () => {
    const headers = secureHeaders();
    const cors = corsPolicy({ origins: ['https://app.example.com'] });
    const names = ['Authorization', 'Cookie', 'X-API-Key'];
    for (let pass = 0; pass < 2; pass++) {
      for (const existing of EXISTING) {
        for (const reqHeaders of [
          { origin: 'https://app.example.com', authorization: 'Bearer x' },
          { origin: 'https://evil.example' },
          {},
        ]) {
          const ours = response(existing);
          run(headers, request(reqHeaders), ours);
          run(cors, request(reqHeaders), ours);
          const theirs = response(existing);
          referenceAddVary(theirs, names.join(', '), names);
          referenceVaryOrigin(theirs);
          expect(varyOf(ours), JSON.stringify([existing, reqHeaders])).toEqual(varyOf(theirs));
        }
      }
    }
    // The usual case: nothing set Vary before.
    const res = response();
    run(headers, request({ origin: 'https://app.example.com' }), res);
    run(cors, request({ origin: 'https://app.example.com' }), res);
    expect(res.getHeader('Vary')).toBe('Authorization, Cookie, X-API-Key, Origin');
  });
});
