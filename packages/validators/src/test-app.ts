// Test support: an Express app with a JSON error renderer shaped like @bulwark/error-handler's.
import { Agent, request as httpRequest } from 'node:http';
import express, { type ErrorRequestHandler, type Express } from 'express';

/** Renders errors as `{ status, code, message, errors?, details? }`; 5xx hide everything. */
export const renderErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = typeof err?.status === 'number' ? err.status : 500;
  if (err?.headers) res.set(err.headers);
  if (status >= 500 || !err.expose) {
    res.status(status).json({ status, code: 'internal_error', message: 'Internal Server Error' });
    return;
  }
  res.status(status).json({
    status,
    code: err.code,
    message: err.message,
    ...(err.errors ? { errors: err.errors } : {}),
    ...(err.details ? { details: err.details } : {}),
  });
};

/** A new Express app; call `finish(app)` after adding routes to mount the error renderer. */
export function createApp(): Express {
  const app = express();
  return app;
}

export function finish(app: Express): Express {
  app.use(renderErrors);
  return app;
}

/** The first bytes of one file of each type `detectFileType` recognises. */
export const SAMPLES = {
  png: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
  jpeg: Buffer.from('ffd8ffe000104a464946000101', 'hex'),
  gif: Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'),
  webp: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 ')]),
  pdf: Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1'),
  zip: Buffer.from('504b0304140000000800', 'hex'),
  gzip: Buffer.from('1f8b0800000000000003', 'hex'),
  json: Buffer.from('{"readings":[1,2,3]}'),
  text: Buffer.from('temperature,humidity\n21.5,40\n'),
};

/**
 * A small HTTP client over node:http with keep-alive, lighter than fetch for tests that send
 * hundreds of requests.
 */
export function createClient(base: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const send = (
    path: string,
    {
      method = 'GET',
      headers = {},
      body,
    }: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        `${base}${path}`,
        {
          method,
          agent,
          headers:
            body === undefined
              ? headers
              : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}
