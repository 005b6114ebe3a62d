// Tests for uploadLimits() over real HTTP: streaming size cap (413) and magic-byte typing (415).
import { request as httpRequest } from 'node:http';
import { listen } from '@bulwark/test-utils';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createApp, finish, SAMPLES } from './test-app.js';
import { uploadLimits } from './upload-limits.js';

function uploadApp() {
  const app = createApp();
  app.put(
    '/avatars/:id',
    uploadLimits({ maxBytes: '1kb', allowedTypes: ['image/png', 'image/jpeg'] }),
    (req, res) => {
      res.status(201).json({ upload: req.valid?.upload, bytes: (req.body as Buffer).length });
    },
  );
  return finish(app);
}

const png = Buffer.concat([SAMPLES.png, Buffer.alloc(100)]);

describe('uploadLimits', () => {
  it('accepts an allowed type, detected from its bytes', async () => {
    const res = await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/png')
      .send(png)
      .expect(201);
    expect(res.body).toEqual({
      upload: { type: 'image/png', extension: 'png', size: png.length },
      bytes: png.length,
    });
    await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'application/octet-stream')
      .send(png)
      .expect(201);
    await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/jpg')
      .send(SAMPLES.jpeg)
      .expect(201);
  });

  it('answers 415 for a type it does not allow, whatever the Content-Type says', async () => {
    const res = await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/png')
      .send(SAMPLES.pdf)
      .expect(415);
    expect(res.body.code).toBe('unsupported_file_type');
    const html = Buffer.from('<html><script>alert(1)</script></html>');
    await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/png')
      .send(html)
      .expect(415);
  });

  it('answers 415 file_type_mismatch when the Content-Type contradicts the bytes', async () => {
    const res = await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/jpeg')
      .send(png)
      .expect(415);
    expect(res.body.code).toBe('file_type_mismatch');
  });

  it('answers 413 upload_too_large from Content-Length before reading the body', async () => {
    const big = Buffer.concat([SAMPLES.png, Buffer.alloc(2048)]);
    const res = await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/png')
      .send(big)
      .expect(413);
    expect(res.body).toMatchObject({ code: 'upload_too_large', details: { maxBytes: 1024 } });
  });

  it('answers 413 while streaming a chunked upload, before it ends', async () => {
    const server = await listen(uploadApp());
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server.url}/avatars/1`, {
          method: 'PUT',
          headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        req.on('error', reject);
        req.write(SAMPLES.png);
        const timer = setInterval(() => {
          if (!req.destroyed) req.write(Buffer.alloc(256));
        }, 5);
        req.on('close', () => clearInterval(timer));
      });
      expect(status).toBe(413);
    } finally {
      await server.close();
    }
  });

  it('answers 415 for multipart or compressed bodies and 400 for an empty one', async () => {
    const multipart = await request(uploadApp())
      .put('/avatars/1')
      .attach('file', png, 'a.png')
      .expect(415);
    expect(multipart.body.code).toBe('unsupported_media_type');
    await request(uploadApp())
      .put('/avatars/1')
      .set('content-type', 'image/png')
      .set('content-encoding', 'gzip')
      .send(png)
      .expect(415);
    expect((await request(uploadApp()).put('/avatars/1').expect(400)).body.code).toBe(
      'upload_missing',
    );
  });

  it('answers 415 file_contains_markup for an image header followed by HTML or script (regression: only the leading magic bytes were checked)', async () => {
    const app = createApp();
    app.put(
      '/images/:id',
      uploadLimits({ maxBytes: '100kb', allowedTypes: ['image/gif', 'image/png', 'image/jpeg'] }),
      (req, res) => {
        res.status(201).json({ upload: req.valid?.upload });
      },
    );
    finish(app);
    for (const [type, file] of [
      ['image/gif', Buffer.concat([SAMPLES.gif, Buffer.from('<script>alert(1)</script>')])],
      ['image/gif', Buffer.concat([SAMPLES.gif, Buffer.from('/*<svg/onload=alert(1)>*/')])],
      ['image/png', Buffer.concat([SAMPLES.png, Buffer.from('<\0h\0t\0m\0l\0>')])],
      [
        'image/jpeg',
        Buffer.concat([
          SAMPLES.jpeg,
          Buffer.alloc(4000),
          Buffer.from('<a href=x OnClick=alert(1)>'),
        ]),
      ],
    ] as const) {
      const res = await request(app).put('/images/1').set('content-type', type).send(file);
      expect(res.status, type).toBe(415);
      expect(res.body).toMatchObject({
        code: 'file_contains_markup',
        details: { maxBytes: 102400 },
      });
      expect(res.text).not.toContain('alert');
    }
    const clean = Buffer.concat([SAMPLES.gif, Buffer.alloc(200)]);
    await request(app).put('/images/1').set('content-type', 'image/gif').send(clean).expect(201);
  });

  it('answers 415 file_contains_markup for HTML, SVG or XML with script sent as plain text (regression: they were accepted as text/plain)', async () => {
    const app = createApp();
    app.put(
      '/notes/:id',
      uploadLimits({ maxBytes: '10kb', allowedTypes: ['text/plain'] }),
      (req, res) => {
        res.status(201).json({ upload: req.valid?.upload });
      },
    );
    finish(app);
    for (const text of [
      '<!DOCTYPE html><html><body><script>alert(1)</script></body></html>',
      '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
      '<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
      'reading,value\n1,<img src=x onerror=alert(1)>\n',
    ]) {
      for (const declared of ['text/plain', 'application/octet-stream']) {
        const res = await request(app)
          .put('/notes/1')
          .set('content-type', declared)
          .send(Buffer.from(text));
        expect(res.status, text).toBe(415);
        expect(res.body.code).toBe('file_contains_markup');
      }
    }
    const csv = 'temperature,humidity\n21.5,40\n';
    const res = await request(app)
      .put('/notes/1')
      .set('content-type', 'text/plain')
      .send(Buffer.from(csv))
      .expect(201);
    expect(res.body.upload).toEqual({ type: 'text/plain', extension: 'txt', size: csv.length });
  });

  it('refuses missing or unknown settings at construction', () => {
    expect(() => uploadLimits({ allowedTypes: ['image/png'] } as never)).toThrow(
      /maxBytes is required/,
    );
    expect(() => uploadLimits({ maxBytes: '1mb', allowedTypes: [] })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
    expect(() =>
      uploadLimits({ maxBytes: '1mb', allowedTypes: ['image/svg+xml' as never] }),
    ).toThrow(/cannot be recognised/);
    expect(() =>
      uploadLimits({ maxBytes: '1mb', allowedTypes: ['image/png'], maxbytes: 1 } as never),
    ).toThrow(/Did you mean `maxBytes`\?/);
  });
});
