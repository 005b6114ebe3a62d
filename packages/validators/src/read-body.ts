// Reads a request body into memory with a byte limit enforced before and while it streams.
import type { Request } from 'express';
import { requestError } from './errors.js';

/** Why reading stopped early. */
export type ReadFailure = 'too_large' | 'aborted';

export interface ReadOptions {
  limit: number;
  /** Error code for a body over the limit, e.g. `payload_too_large`. */
  tooLargeCode: string;
  /** Safe details for the 413, e.g. `{ limit: 102400 }`. */
  details: Record<string, unknown>;
}

/** True when the request announces a body (a length above zero, or chunked transfer). */
export function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return length !== undefined && length !== '0';
}

/**
 * Lets the rest of a refused body flow into nothing until the connection closes after the
 * response (`Connection: close`). Pausing instead would leave unread bytes in the socket, and
 * closing a socket with unread bytes sends a reset that can destroy the 413 before the client
 * reads it.
 */
function discard(req: Request): void {
  req.unpipe();
  req.resume();
}

/**
 * Resolves with the whole body, or rejects with a 413 as soon as the announced length or the
 * bytes received pass the limit, without keeping the rest. The socket is then closed after the
 * response, so a client cannot keep streaming into it.
 */
export function readBody(
  req: Request,
  { limit, tooLargeCode, details }: ReadOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      requestError(413, 'Request body is too large', {
        code: tooLargeCode,
        headers: { Connection: 'close' },
        details,
      });
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      if (!/^\d{1,15}$/.test(declared)) {
        reject(
          requestError(400, 'Content-Length is not valid', { code: 'invalid_content_length' }),
        );
        return;
      }
      if (Number(declared) > limit) {
        discard(req);
        reject(tooLarge());
        return;
      }
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const cleanup = () => {
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      received += chunk.length;
      if (received > limit) {
        cleanup();
        discard(req);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (done) return;
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = () => {
      if (done) return;
      cleanup();
      reject(requestError(400, 'Request body could not be read', { code: 'request_aborted' }));
    };
    const onAborted = onError;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
