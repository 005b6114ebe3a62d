// uploadLimits(): raw-body uploads capped in size while streaming and typed by their magic bytes.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestError, ValidatorsConfigError } from './errors.js';
import { publishRejected, routeOf } from './events.js';
import {
  detectFileType,
  findMarkup,
  SUPPORTED_FILE_TYPES,
  type SupportedFileType,
} from './file-type.js';
import { parseContentType } from './json-body.js';
import { uploadDescription, withOpenApi } from './openapi.js';
import { byteSizeOption, checkOptions, describe } from './options.js';
import { hasBody, readBody } from './read-body.js';

/** What `uploadLimits` found, on `req.valid.upload`; the bytes are on `req.body`. */
export interface UploadInfo {
  /** The type detected from the bytes. */
  type: SupportedFileType;
  /** The usual extension for that type, without a dot: use it, not the client's file name. */
  extension: string;
  /** Size in bytes. */
  size: number;
}

/** Options for `uploadLimits`. */
export interface UploadLimitsOptions {
  /** Largest upload, in bytes or as `'5mb'`. Required. */
  maxBytes: number | string;
  /** Types accepted, from `SUPPORTED_FILE_TYPES`. Required. */
  allowedTypes: readonly SupportedFileType[];
}

const OPTION_NAMES = ['maxBytes', 'allowedTypes'];

// Names clients commonly send for the same types.
const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'application/x-zip-compressed': 'application/zip',
  'application/x-gzip': 'application/gzip',
  'application/x-pdf': 'application/pdf',
};

/**
 * Reads a raw upload (the file's bytes as the request body, as in `PUT /files/:name`) into
 * `req.body` as a Buffer and its detected type into `req.valid.upload`. Refuses an upload over
 * `maxBytes` with 413 `upload_too_large` as soon as the Content-Length or the bytes received
 * pass it; a type not recognised from the bytes, or not allowed, with 415
 * `unsupported_file_type`; a declared Content-Type that contradicts the bytes with 415
 * `file_type_mismatch`; an image or text file with HTML, SVG or XML markup or script in its
 * first 64 KiB (see `findMarkup`: a GIF header followed by `<script>`, an SVG sent as text) with
 * 415 `file_contains_markup`; multipart or compressed bodies with 415; an empty body with 400
 * `upload_missing`. Serve what it accepted with `serveUpload`.
 *
 * No defaults: both options are required, so a route's limits are always stated.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_OPTION` when `maxBytes` is
 * missing or invalid, or `allowedTypes` is empty or names a type that cannot be detected.
 * @example
 * app.put('/avatars/:id', uploadLimits({ maxBytes: '2mb', allowedTypes: ['image/png', 'image/jpeg'] }),
 *   (req, res) => { save(req.params.id, req.valid!.upload!.extension, req.body); res.sendStatus(204); });
 */
export function uploadLimits(options: UploadLimitsOptions): RequestHandler {
  const opts = checkOptions('uploadLimits', options, OPTION_NAMES);
  if (opts.maxBytes === undefined) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      "uploadLimits: maxBytes is required. State the largest upload the route accepts, such as maxBytes: '5mb'.",
    );
  }
  const maxBytes = byteSizeOption('uploadLimits', 'maxBytes', opts.maxBytes, 0);
  const allowed = opts.allowedTypes;
  if (!Array.isArray(allowed) || allowed.length === 0) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `uploadLimits: allowedTypes: ${describe(allowed)} is not valid. List the types to accept, such as ['image/png', 'image/jpeg'].`,
    );
  }
  for (const type of allowed) {
    if (!(SUPPORTED_FILE_TYPES as readonly unknown[]).includes(type)) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
        `uploadLimits: allowedTypes: ${describe(type)} cannot be recognised from its bytes. Use only: ${SUPPORTED_FILE_TYPES.join(', ')}.`,
      );
    }
  }
  const allowedSet = new Set<string>(allowed);

  const middleware = function uploadLimiter(
    req: Request,
    _res: Response,
    next: NextFunction,
  ): void {
    const refuse = (status: number, code: string, message: string) => {
      publishRejected({
        middleware: 'uploadLimits',
        status,
        code,
        method: req.method,
        ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
      });
      next(
        requestError(status, message, {
          code,
          details: { maxBytes, allowedTypes: [...allowedSet] },
        }),
      );
    };
    const flagged = req as Request & { _body?: boolean };
    if (flagged._body || !hasBody(req)) {
      refuse(400, 'upload_missing', 'The request has no file in its body');
      return;
    }
    const { type: declaredRaw } = parseContentType(req.headers['content-type']);
    if (declaredRaw.startsWith('multipart/')) {
      refuse(
        415,
        'unsupported_media_type',
        'Send the file itself as the request body, not as a multipart form',
      );
      return;
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      refuse(415, 'unsupported_content_encoding', 'Compressed request bodies are not accepted');
      return;
    }
    const declared = ALIASES[declaredRaw] ?? declaredRaw;
    flagged._body = true;
    readBody(req, {
      limit: maxBytes,
      tooLargeCode: 'upload_too_large',
      details: { maxBytes, allowedTypes: [...allowedSet] },
    }).then(
      (buffer) => {
        if (buffer.length === 0) {
          refuse(400, 'upload_missing', 'The request has no file in its body');
          return;
        }
        const detected = detectFileType(buffer);
        let type: SupportedFileType | undefined = detected?.type;
        let extension = detected?.extension ?? '';
        // JSON is also text: a client that says text/plain gets text/plain.
        if (type === 'application/json' && declared === 'text/plain') {
          type = 'text/plain';
          extension = 'txt';
        }
        if (type === undefined || !allowedSet.has(type)) {
          refuse(415, 'unsupported_file_type', 'This type of file is not accepted');
          return;
        }
        if (declared !== '' && declared !== 'application/octet-stream' && declared !== type) {
          refuse(415, 'file_type_mismatch', 'The Content-Type does not match the file');
          return;
        }
        // An image or a text file a browser would render as a page if it ever sniffed it: a GIF
        // header followed by HTML, or an SVG sent as text. JSON is data; archives and PDFs are
        // compressed or hold their own kinds of content, and are not read.
        if ((type.startsWith('image/') || type === 'text/plain') && findMarkup(buffer)) {
          refuse(
            415,
            'file_contains_markup',
            'The file contains HTML, SVG or XML markup or script, which is not accepted in an image or a text file',
          );
          return;
        }
        req.body = buffer;
        req.valid = { ...req.valid, upload: { type, extension, size: buffer.length } };
        next();
      },
      (err: { status?: number; code?: string }) => {
        publishRejected({
          middleware: 'uploadLimits',
          status: err.status ?? 400,
          code: err.code ?? 'request_aborted',
          method: req.method,
          ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
        });
        next(err);
      },
    );
  };
  return withOpenApi(uploadDescription(maxBytes, [...allowedSet]), middleware);
}
