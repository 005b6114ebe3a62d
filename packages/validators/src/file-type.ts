// Recognises a file's type from its leading bytes (magic numbers), never from what the client says,
// and finds markup or script hidden in a file that claims to be an image or plain text.
import { Buffer } from 'node:buffer';

/** The types `detectFileType` recognises, and so the types `uploadLimits` can allow. */
export const SUPPORTED_FILE_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'application/zip',
  'application/gzip',
  'application/json',
  'text/plain',
] as const;

export type SupportedFileType = (typeof SUPPORTED_FILE_TYPES)[number];

/** A recognised type with its usual file extension. */
export interface DetectedFileType {
  type: SupportedFileType;
  extension: string;
}

const SIGNATURES: {
  type: SupportedFileType;
  extension: string;
  offset: number;
  bytes: number[];
}[] = [
  {
    type: 'image/png',
    extension: 'png',
    offset: 0,
    bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  },
  { type: 'image/jpeg', extension: 'jpg', offset: 0, bytes: [0xff, 0xd8, 0xff] },
  { type: 'image/gif', extension: 'gif', offset: 0, bytes: [0x47, 0x49, 0x46, 0x38, 0x37, 0x61] },
  { type: 'image/gif', extension: 'gif', offset: 0, bytes: [0x47, 0x49, 0x46, 0x38, 0x39, 0x61] },
  { type: 'application/pdf', extension: 'pdf', offset: 0, bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { type: 'application/zip', extension: 'zip', offset: 0, bytes: [0x50, 0x4b, 0x03, 0x04] },
  { type: 'application/zip', extension: 'zip', offset: 0, bytes: [0x50, 0x4b, 0x05, 0x06] },
  { type: 'application/gzip', extension: 'gz', offset: 0, bytes: [0x1f, 0x8b, 0x08] },
];

function startsWith(buffer: Uint8Array, offset: number, bytes: number[]): boolean {
  if (buffer.length < offset + bytes.length) return false;
  return bytes.every((byte, i) => buffer[offset + i] === byte);
}

function isWebp(buffer: Uint8Array): boolean {
  // RIFF <size> WEBP
  return (
    startsWith(buffer, 0, [0x52, 0x49, 0x46, 0x46]) &&
    startsWith(buffer, 8, [0x57, 0x45, 0x42, 0x50])
  );
}

const decoder = new TextDecoder('utf-8', { fatal: true });
// C0 controls other than tab, line feed, form feed and carriage return, and DEL: binary data.
function hasBinaryControls(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d) || c === 0x7f)
      return true;
  }
  return false;
}

/**
 * The type of a file from its bytes: PNG, JPEG, GIF, WebP, PDF, ZIP and gzip by signature;
 * JSON when the whole file is UTF-8 that parses as a JSON object or array; plain text when it
 * is UTF-8 without control characters other than tab, LF, FF and CR. Anything else is
 * `undefined`. A matching signature says what the file claims to be, not that it is well formed.
 * @example detectFileType(await readFile('logo.png')) // { type: 'image/png', extension: 'png' }
 */
export function detectFileType(buffer: Uint8Array): DetectedFileType | undefined {
  if (buffer.length === 0) return undefined;
  for (const { type, extension, offset, bytes } of SIGNATURES) {
    if (startsWith(buffer, offset, bytes)) return { type, extension };
  }
  if (isWebp(buffer)) return { type: 'image/webp', extension: 'webp' };
  let text: string;
  try {
    text = decoder.decode(buffer);
  } catch {
    return undefined;
  }
  if (hasBinaryControls(text)) return undefined;
  const first = text.replace(/^\uFEFF/, '').trimStart()[0];
  if (first === '{' || first === '[') {
    try {
      JSON.parse(text.replace(/^\uFEFF/, ''));
      return { type: 'application/json', extension: 'json' };
    } catch {
      // Not JSON after all; still text.
    }
  }
  return { type: 'text/plain', extension: 'txt' };
}

/** How much of a file `findMarkup` reads: the first 64 KiB. */
export const MARKUP_SCAN_BYTES = 64 * 1024;

// Tags that run script, load or frame content, restyle or redirect a page, or start an SVG or
// MathML island, as an HTML parser reads them: the name ends at a space, `/` or `>`.
const TAGS = [
  'script',
  'html',
  'head',
  'body',
  'svg',
  'math',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'meta',
  'link',
  'style',
  'base',
  'form',
  'img',
];
// Browsers ignore tabs and line breaks inside a URL scheme: `java\tscript:` still runs.
const scheme = (name: string) => name.split('').join('[\\t\\n\\r]*');
const MARKERS = new RegExp(
  [
    `<(${TAGS.join('|')})(?=[\\s/>]|$)`,
    '<!doctype\\s+html',
    '<\\?xml-stylesheet',
    'w3\\.org/1999/xhtml',
    `(${scheme('javascript:')}|${scheme('vbscript:')}|data:text/html)`,
  ].join('|'),
);
// An attribute such as ` onerror=` or `/onload=`; only looked for inside a tag.
const EVENT_HANDLER = /[\s/"'`]on[a-z]+\s*=/;
const TAG_START = /<[a-z]/g;
// A document that starts as HTML, SVG or XML does: `<` then a name, `!` or `?`, after any
// byte-order mark and white space.
const MARKUP_DOCUMENT = /^(?:\xef\xbb\xbf|\xff\xfe|\xfe\xff)?\s*<[a-z!?]/;

/**
 * What makes `bytes` markup a browser could run, or `undefined`: a document that starts as
 * HTML, SVG or XML does; a tag that runs script, loads or frames content or starts an SVG
 * (`<script`, `<svg`, `<iframe`, `<img`, ...); `<!doctype html`; an event-handler attribute
 * inside a tag (`onerror=`); a `javascript:`, `vbscript:` or `data:text/html` URL. Only the
 * first `MARKUP_SCAN_BYTES` are read, as single bytes with NULs removed (so UTF-16 text is read
 * too) and case ignored, in time linear in their length. The answer names what was found, for
 * logs: `'<script'`, `'an event-handler attribute'`, `'a markup document'`.
 * @example findMarkup(Buffer.from('GIF89a<svg onload=alert(1)>')) // '<svg'
 */
export function findMarkup(bytes: Uint8Array): string | undefined {
  const prefix = Buffer.from(
    bytes.buffer,
    bytes.byteOffset,
    Math.min(bytes.length, MARKUP_SCAN_BYTES),
  );
  const text = prefix.toString('latin1').replace(/\0/g, '').toLowerCase();
  if (MARKUP_DOCUMENT.test(text)) return 'a markup document';
  const marker = MARKERS.exec(text);
  if (marker) {
    if (marker[1]) return `<${marker[1]}`;
    if (marker[2]) return marker[2].replace(/[\t\n\r]/g, '');
    return marker[0].startsWith('w3') ? 'the XHTML namespace' : marker[0].replace(/\s+/g, ' ');
  }
  // Each tag is read up to the next `<`, so no byte is read twice.
  for (const start of text.matchAll(TAG_START)) {
    const end = text.indexOf('<', start.index + 1);
    if (EVENT_HANDLER.test(text.slice(start.index, end === -1 ? undefined : end))) {
      return 'an event-handler attribute';
    }
  }
  return undefined;
}
