// Reading a session JWT from the Cookie header: the cookie name checked once, the value read strictly.
import { RbacConfigError, show } from './errors.js';

// RFC 6265 section 4.1.1: a cookie name is an RFC 7230 token.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;
// RFC 6265 cookie-octet: printable US-ASCII without space, DQUOTE, comma, semicolon, backslash.
const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/;

/**
 * Longest Cookie header read, in characters. Node refuses request heads over 16 KiB unless
 * `maxHeaderSize` is raised; past this a header is refused rather than scanned.
 */
export const MAX_COOKIE_HEADER = 32_768;

/** Checks `sessionCookie` at construction and returns the name to look for. */
export function checkCookieName(where: string, name: unknown): string {
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SESSION_COOKIE',
      `${where}: sessionCookie ${show(name)} is not a valid cookie name. Use 1 to 128 letters, digits and !#$%&'*+-.^_\`|~ (no spaces, '=', ';' or quotes), such as '__Host-session'.`,
    );
  }
  return name;
}

/**
 * The value of the first cookie named exactly `name` in a Cookie header: `undefined` when there is
 * none, `null` when it is there but its value is empty or not made of RFC 6265 cookie octets (a
 * value in double quotes has them removed), or when the header is over `MAX_COOKIE_HEADER`.
 */
export function readCookie(header: string | undefined, name: string): string | null | undefined {
  if (header === undefined || header.indexOf(name) === -1) return undefined;
  if (header.length > MAX_COOKIE_HEADER) return null;
  const length = header.length;
  let start = 0;
  while (start < length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    let i = start;
    while (i < end && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
    const equals = i + name.length;
    if (equals < end && header.charCodeAt(equals) === 0x3d && header.startsWith(name, i)) {
      let last = end;
      while (
        last > equals + 1 &&
        (header.charCodeAt(last - 1) === 0x20 || header.charCodeAt(last - 1) === 0x09)
      ) {
        last--;
      }
      let value = header.slice(equals + 1, last);
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      return COOKIE_VALUE.test(value) ? value : null;
    }
    start = end + 1;
  }
  return undefined;
}
