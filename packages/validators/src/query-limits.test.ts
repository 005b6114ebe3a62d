// Tests for queryLimits() over real HTTP: length (414), parameter count and encoding (400).
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { queryLimits } from './query-limits.js';
import { createApp, finish } from './test-app.js';

function queryApp(options?: Parameters<typeof queryLimits>[0]) {
  const app = createApp();
  app.use(queryLimits(options));
  app.get('/items', (req, res) => {
    res.json({ params: Object.keys(req.query).length });
  });
  return finish(app);
}

describe('queryLimits', () => {
  it('lets ordinary query strings through', async () => {
    await request(queryApp()).get('/items?a=1&b=2').expect(200, { params: 2 });
    await request(queryApp()).get('/items').expect(200, { params: 0 });
  });

  it('answers 414 query_too_long past maxLength', async () => {
    await request(queryApp())
      .get(`/items?q=${'x'.repeat(4094)}`)
      .expect(200);
    const res = await request(queryApp())
      .get(`/items?q=${'x'.repeat(4095)}`)
      .expect(414);
    expect(res.body).toMatchObject({ code: 'query_too_long', details: { maxLength: 4096 } });
    expect(res.text).not.toContain('xxxx');
  });

  it('answers 400 too_many_query_params past maxParams', async () => {
    const query = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=1`).join('&');
    await request(queryApp())
      .get(`/items?${query(100)}`)
      .expect(200, { params: 100 });
    const res = await request(queryApp())
      .get(`/items?${query(101)}`)
      .expect(400);
    expect(res.body).toMatchObject({ code: 'too_many_query_params', details: { maxParams: 100 } });
    await request(queryApp({ maxParams: 2 }))
      .get('/items?a=1&a=2&a=3')
      .expect(400);
    // Empty parameters (`&&`, a trailing `&`) are not parameters.
    await request(queryApp({ maxParams: 2 }))
      .get('/items?&a=1&&b=2&')
      .expect(200, { params: 2 });
  });

  it('answers 400 invalid_query for broken percent-encoding', async () => {
    for (const query of ['q=%', 'q=%zz', 'q=%c3%28', '%ff=1']) {
      const res = await request(queryApp()).get(`/items?${query}`).expect(400);
      expect(res.body.code).toBe('invalid_query');
    }
    await request(queryApp()).get('/items?q=%C3%A9t%C3%A9').expect(200);
    // The broken parameter is found wherever it sits among well-encoded ones.
    for (const query of ['a=%41&b=2&q=%zz', 'a=1&&q=%e2%82&b=%41', 'a=%41&b=%42&c=%']) {
      const res = await request(queryApp()).get(`/items?${query}`).expect(400);
      expect(res.body.code).toBe('invalid_query');
    }
    await request(queryApp()).get('/items?a=%41&b=2&c=%C3%A9').expect(200, { params: 3 });
  });

  it('refuses bad options at construction', () => {
    expect(() => queryLimits({ maxParams: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
    expect(() => queryLimits({ maxLenght: 10 } as never)).toThrow(/Did you mean `maxLength`\?/);
  });
});
