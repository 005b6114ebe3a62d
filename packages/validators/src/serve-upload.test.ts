// Tests for serveUpload() over real HTTP: the headers a stored upload is served with.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SupportedFileType } from './file-type.js';
import { serveUpload } from './serve-upload.js';
import { createApp, finish, SAMPLES } from './test-app.js';
import { uploadLimits } from './upload-limits.js';

const SANDBOX = "default-src 'none'; sandbox";

function serveApp(type: string, filename?: string) {
  const app = createApp();
  app.get('/file', (_req, res) => {
    const options = {
      type: type as SupportedFileType,
      ...(filename === undefined ? {} : { filename }),
    };
    serveUpload(res, options).send(SAMPLES.text);
  });
  return finish(app);
}

async function dispositionOf(type: string, filename: string): Promise<string | undefined> {
  const res = await request(serveApp(type, filename)).get('/file').expect(200);
  return res.headers['content-disposition'];
}

describe('serveUpload', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-serve-upload-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a file as a download of its detected type that no browser sniffs or runs', async () => {
    const res = await request(serveApp('text/plain', 'readings.csv')).get('/file').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBe(SANDBOX);
    expect(res.headers['content-disposition']).toBe('attachment; filename=readings.csv');
    expect(res.text).toBe(SAMPLES.text.toString());
    const bare = await request(serveApp('image/png')).get('/file').expect(200);
    expect(bare.headers['content-type']).toBe('image/png');
    expect(bare.headers['content-disposition']).toBe('attachment');
    expect(bare.headers['content-security-policy']).toBe(SANDBOX);
  });

  it('takes the type from the upload, never from the file name, and gives the name an extension of that type', async () => {
    const res = await request(serveApp('text/plain', 'page.html')).get('/file').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename=page.txt');
    expect(await dispositionOf('image/jpeg', 'photo.JPEG')).toBe('attachment; filename=photo.JPEG');
    expect(await dispositionOf('image/gif', 'anim')).toBe('attachment; filename=anim.gif');
    expect(await dispositionOf('application/pdf', '.htaccess')).toBe(
      'attachment; filename=htaccess.pdf',
    );
  });

  it('drops path parts, control characters and bidirectional overrides from the name', async () => {
    expect(await dispositionOf('text/plain', '../../etc/passwd')).toBe(
      'attachment; filename=passwd.txt',
    );
    expect(await dispositionOf('text/plain', 'C:\\Users\\a\\notes.txt')).toBe(
      'attachment; filename=notes.txt',
    );
    expect(await dispositionOf('image/png', 'x\u202Egnp.exe')).toBe(
      'attachment; filename=xgnp.png',
    );
    expect(await dispositionOf('text/plain', 'a\r\nSet-Cookie: b=1.txt')).toBe(
      'attachment; filename="aSet-Cookie: b=1.txt"',
    );
    expect(await dispositionOf('text/plain', '///')).toBe('attachment; filename=download.txt');
    expect(await dispositionOf('image/png', 'résumé "v2".png')).toBe(
      `attachment; filename="r?sum? \\"v2\\".png"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.png`,
    );
  });

  it('keeps its Content-Type when the bytes are sent with res.sendFile', async () => {
    const path = join(dir, 'stored.html');
    await writeFile(path, 'hello');
    const app = createApp();
    app.get('/file', (_req, res) => {
      serveUpload(res, { type: 'text/plain', filename: 'stored.html' }).sendFile(path);
    });
    const res = await request(finish(app)).get('/file').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename=stored.txt');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves back what uploadLimits stored with the type it detected', async () => {
    const stored = new Map<string, { type: SupportedFileType; bytes: Buffer }>();
    const app = createApp();
    app.put(
      '/files/:id',
      uploadLimits({ maxBytes: '10kb', allowedTypes: ['image/png', 'text/plain'] }),
      (req, res) => {
        const upload = req.valid?.upload as { type: SupportedFileType };
        stored.set(req.params.id as string, { type: upload.type, bytes: req.body as Buffer });
        res.sendStatus(204);
      },
    );
    app.get('/files/:id', (req, res) => {
      const file = stored.get(req.params.id as string);
      if (!file) {
        res.sendStatus(404);
        return;
      }
      serveUpload(res, { type: file.type, filename: `${req.params.id}.html` }).send(file.bytes);
    });
    finish(app);
    const png = Buffer.concat([SAMPLES.png, Buffer.alloc(64)]);
    await request(app)
      .put('/files/logo')
      .set('content-type', 'application/octet-stream')
      .send(png)
      .expect(204);
    const res = await request(app).get('/files/logo').buffer(true).expect(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['content-disposition']).toBe('attachment; filename=logo.png');
    expect(res.headers['content-security-policy']).toBe(SANDBOX);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.compare(res.body as Buffer, png)).toBe(0);
  });

  it('refuses a type it cannot vouch for, a filename that is not a string and a misspelt option', async () => {
    const app = createApp();
    app.get('/file', (req, res) => {
      const attempts: Record<string, unknown> = {
        html: { type: 'text/html' },
        number: { type: 'text/plain', filename: 42 },
        typo: { type: 'text/plain', fileName: 'a.txt' },
      };
      try {
        serveUpload(res, attempts[req.query.case as string] as never);
        res.json({ served: true });
      } catch (err) {
        res.json({ code: (err as { code?: string }).code, message: (err as Error).message });
      }
    });
    finish(app);
    const html = await request(app).get('/file?case=html').expect(200);
    expect(html.body.code).toBe('ERR_BULWARK_VALIDATORS_INVALID_OPTION');
    expect(html.body.message).toContain('"text/html" is not valid');
    expect(html.headers['content-disposition']).toBeUndefined();
    const number = await request(app).get('/file?case=number').expect(200);
    expect(number.body.code).toBe('ERR_BULWARK_VALIDATORS_INVALID_OPTION');
    const typo = await request(app).get('/file?case=typo').expect(200);
    expect(typo.body).toMatchObject({
      code: 'ERR_BULWARK_VALIDATORS_UNKNOWN_OPTION',
      message: expect.stringContaining('Did you mean `filename`?'),
    });
  });
});
