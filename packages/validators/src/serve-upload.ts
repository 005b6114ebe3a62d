// serveUpload(): the response headers that keep a stored upload from being run as a page.
import type { Response } from 'express';
import { ValidatorsConfigError } from './errors.js';
import { SUPPORTED_FILE_TYPES, type SupportedFileType } from './file-type.js';
import { checkOptions, describe } from './options.js';

/** Options for `serveUpload`. */
export interface ServeUploadOptions {
  /**
   * The type `uploadLimits` detected when the file was stored (`req.valid.upload.type`), from
   * `SUPPORTED_FILE_TYPES`. Required: it is sent as the `Content-Type`, whatever the name says.
   */
  type: SupportedFileType;
  /**
   * The name a browser saves the file under. Default: none, and the browser picks one. Path
   * parts, control characters and format characters (such as U+202E) are dropped, and an
   * extension that does not belong to `type` is replaced by one that does (`notes.html` served
   * as `text/plain` is saved as `notes.txt`).
   */
  filename?: string;
}

const OPTION_NAMES = ['type', 'filename'];

// The extensions a saved file of each type may keep; the first is the one given otherwise.
const EXTENSIONS: Record<SupportedFileType, readonly string[]> = {
  'image/png': ['png'],
  'image/jpeg': ['jpg', 'jpeg'],
  'image/gif': ['gif'],
  'image/webp': ['webp'],
  'application/pdf': ['pdf'],
  'application/zip': ['zip'],
  'application/gzip': ['gz', 'tgz'],
  'application/json': ['json'],
  'text/plain': ['txt', 'csv', 'tsv', 'log'],
};

// `detectFileType` only calls UTF-8 text `text/plain`, so the charset is known.
const CONTENT_TYPES: Record<SupportedFileType, string> = {
  ...(Object.fromEntries(SUPPORTED_FILE_TYPES.map((type) => [type, type])) as Record<
    SupportedFileType,
    string
  >),
  'text/plain': 'text/plain; charset=utf-8',
};

/** The sandbox keeps a file opened as a page from running script or loading anything. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox";

// Control characters, and format characters such as U+202E, which reverses how the rest of a
// name is shown (`x\u202Egnp.exe` looks like `xexe.png`).
// Path separators are dealt with by keeping the last part.
const UNSAFE_IN_NAME = /[\p{Cc}\p{Cf}]/gu;

function downloadName(filename: string, type: SupportedFileType): string {
  const base = (filename.split(/[\\/]/).pop() ?? '').replace(UNSAFE_IN_NAME, '').trim();
  const allowed = EXTENSIONS[type];
  const dot = base.lastIndexOf('.');
  const extension = dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
  if (allowed.includes(extension)) return base;
  const stem = (dot > 0 ? base.slice(0, dot) : base).replace(/^\.+/, '');
  return `${stem || 'download'}.${allowed[0]}`;
}

/**
 * Sets the headers a stored upload must be served with, so that no browser runs it as a page
 * however it got in: `Content-Type` from the type detected at upload (never from the file
 * name), `X-Content-Type-Options: nosniff`, `Content-Disposition: attachment` (with `filename`
 * when given) and `Content-Security-Policy: default-src 'none'; sandbox`. Returns `res`; send
 * the bytes after it (`res.send(buffer)`, `res.sendFile(path)`, or a stream). An `<img>` on
 * another page still shows an image served this way. Serve uploads from a separate origin
 * (another host name, not a path) where you can, so even a file opened as a page shares no
 * cookies or storage with the application.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_OPTION` for a `type` not in
 * `SUPPORTED_FILE_TYPES` or a `filename` that is not a string; `_UNKNOWN_OPTION` for a misspelt
 * option.
 * @example
 * app.get('/files/:id', async (req, res) => {
 *   const file = await files.get(req.params.id); // stored with req.valid.upload.type
 *   serveUpload(res, { type: file.type, filename: file.name }).send(file.bytes);
 * });
 */
export function serveUpload(res: Response, options: ServeUploadOptions): Response {
  const opts = checkOptions('serveUpload', options, OPTION_NAMES);
  const type = opts.type as SupportedFileType;
  if (!(SUPPORTED_FILE_TYPES as readonly unknown[]).includes(type)) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `serveUpload: type: ${describe(opts.type)} is not valid. Pass the type uploadLimits detected (req.valid.upload.type), one of: ${SUPPORTED_FILE_TYPES.join(', ')}.`,
    );
  }
  if (opts.filename !== undefined && typeof opts.filename !== 'string') {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `serveUpload: filename: ${describe(opts.filename)} is not valid. Pass a string, such as 'report.pdf', or leave it out.`,
    );
  }
  // Express encodes the name (quotes, non-ASCII as filename*); its guess of the type from the
  // name is replaced just below.
  if (opts.filename === undefined) res.attachment();
  else res.attachment(downloadName(opts.filename, type));
  res.setHeader('Content-Type', CONTENT_TYPES[type]);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  return res;
}
