// Tests for route tracking: logs name the matched pattern with its mount path, however the request was built.
import { listen } from '@bulwark/test-utils';
import express, { type Request } from 'express';
import { describe, expect, it } from 'vitest';
import { requestContext } from './context.js';
import { routeOf, trackRoute } from './route.js';

describe('trackRoute', () => {
  it('keeps the mount path of a route matched before an error left its router', () => {
    const req = { baseUrl: '/customer' } as Request;
    trackRoute(req);
    req.route = { path: '/devices/:id' };
    req.baseUrl = '';
    expect(routeOf(req)).toBe('/customer/devices/:id');
    expect(req.route).toEqual({ path: '/devices/:id' });
  });

  it('tracks a request whose route was already matched when tracking started', () => {
    const req = { baseUrl: '/v1', route: { path: '/a' } } as unknown as Request;
    trackRoute(req);
    expect(req.route).toEqual({ path: '/a' });
    req.route = { path: '/b' };
    req.baseUrl = '';
    expect(routeOf(req)).toBe('/v1/b');
  });

  it('names the route when requestContext() is mounted on the route itself', async () => {
    const app = express();
    const seen: Array<string | undefined> = [];
    app.get('/items/:id', requestContext(), (req, res) => {
      seen.push(routeOf(req));
      res.json({ route: req.route?.path });
    });
    const { url, close } = await listen(app);
    try {
      const res = await fetch(`${url}/items/7`);
      expect(await res.json()).toEqual({ route: '/items/:id' });
      expect(seen).toEqual(['/items/:id']);
    } finally {
      await close();
    }
  });

  it('keeps the mount path of a route whose handler passed the request on, out of its router', async () => {
    const app = express();
    app.use(requestContext());
    const router = express.Router();
    router.get('/devices/:id', (_req, _res, next) => next());
    app.use('/customer', router);
    app.use((req, res) => {
      res.json({ route: routeOf(req), baseUrl: req.baseUrl });
    });
    const { url, close } = await listen(app);
    try {
      const res = await fetch(`${url}/customer/devices/7`);
      expect(await res.json()).toEqual({ route: '/customer/devices/:id', baseUrl: '' });
    } finally {
      await close();
    }
  });

  it('names the last route with a string pattern when a RegExp route matched after it', async () => {
    const app = express();
    app.use(requestContext());
    const router = express.Router();
    router.get('/items/:id', (_req, _res, next) => next());
    router.get(/^\/items\/.+$/, (req, res) => {
      res.json({ route: routeOf(req) });
    });
    app.use('/v1', router);
    const { url, close } = await listen(app);
    try {
      const res = await fetch(`${url}/v1/items/7`);
      expect(await res.json()).toEqual({ route: '/v1/items/:id' });
    } finally {
      await close();
    }
  });
});
