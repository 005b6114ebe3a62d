// The customer and operator APIs speak JSON only: a request that declares another Content-Type is refused with 415.
import { HttpProblem } from '@bulwark/error-handler';
import type { NextFunction, Request, Response } from 'express';

function isJson(contentType: string): boolean {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/**
 * Refuses, with 415 `unsupported_media_type`, a request whose Content-Type is not JSON, whether or
 * not the route reads a body: a form or XML body sent to a route that ignores bodies is refused
 * too, never answered as if it had been understood. A body without any Content-Type is refused by
 * `jsonBody({ requireJson: true })`, which runs next.
 */
export function jsonOnly(req: Request, _res: Response, next: NextFunction): void {
  const contentType = req.headers['content-type'];
  if (contentType === undefined || isJson(contentType)) {
    next();
    return;
  }
  next(
    new HttpProblem(415, 'Request bodies must be application/json.', {
      code: 'unsupported_media_type',
    }),
  );
}
