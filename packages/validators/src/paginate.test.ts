// Tests for paginate() over real HTTP: caps on every request, search or not, and refusals.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { paginate } from './paginate.js';
import { createApp, finish } from './test-app.js';

function listApp(options?: Parameters<typeof paginate>[0]) {
  const app = createApp();
  app.get('/rolls', paginate(options), (req, res) => {
    res.json(req.page);
  });
  return finish(app);
}

describe('paginate', () => {
  it('uses the default limit when none is given', async () => {
    await request(listApp()).get('/rolls').expect(200, { limit: 50, offset: 0, capped: false });
  });

  it('caps the limit at maxLimit even with a search', async () => {
    await request(listApp())
      .get('/rolls?search=kodak&limit=100000')
      .expect(200, { limit: 200, offset: 0, capped: true });
    await request(listApp({ maxLimit: 20, defaultLimit: 10 }))
      .get('/rolls?search=x')
      .expect(200, { limit: 10, offset: 0, capped: false });
  });

  it('refuses an over-large limit with overLimit reject', async () => {
    const res = await request(listApp({ overLimit: 'reject' }))
      .get('/rolls?limit=201')
      .expect(400);
    expect(res.body).toMatchObject({
      code: 'invalid_pagination',
      details: { parameter: 'limit', maxLimit: 200 },
    });
  });

  it('refuses limits and offsets that are not whole numbers in range', async () => {
    for (const query of [
      'limit=0',
      'limit=-1',
      'limit=1.5',
      'limit=1e3',
      'limit=%2B5',
      'limit=',
      'limit=10&limit=20',
      'offset=-1',
      'offset=10001',
      'offset=abc',
    ]) {
      const res = await request(listApp()).get(`/rolls?${query}`).expect(400);
      expect(res.body.code, query).toBe('invalid_pagination');
    }
    await request(listApp())
      .get('/rolls?limit=10&offset=10000')
      .expect(200, { limit: 10, offset: 10000, capped: false });
  });

  it('accepts an opaque cursor of bounded length and charset, never with an offset', async () => {
    await request(listApp())
      .get('/rolls?cursor=eyJpZCI6MTB9&limit=5')
      .expect(200, { limit: 5, offset: 0, cursor: 'eyJpZCI6MTB9', capped: false });
    await request(listApp())
      .get(`/rolls?cursor=${'a'.repeat(513)}`)
      .expect(400);
    await request(listApp()).get('/rolls?cursor=a%27%20OR%201%3D1').expect(400);
    await request(listApp()).get('/rolls?cursor=abc&offset=10').expect(400);
  });

  it('reads renamed parameters', async () => {
    await request(listApp({ limitParam: 'per_page', offsetParam: 'skip' }))
      .get('/rolls?per_page=7&skip=3')
      .expect(200, {
        limit: 7,
        offset: 3,
        capped: false,
      });
  });

  it('refuses bad options at construction', () => {
    expect(() => paginate({ defaultLimit: 500, maxLimit: 200 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
    expect(() => paginate({ overLimit: 'clamp' as never })).toThrow(/Use 'cap' or 'reject'/);
    expect(() => paginate({ maxlimit: 5 } as never)).toThrow(/Did you mean `maxLimit`\?/);
  });
});
