// JWT verification on top of jsonwebtoken, with the checks RFC 8725 asks for done before it runs.
import { isUtf8 } from 'node:buffer';
import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';
import { LRUCache } from 'lru-cache';
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import type { AuthFailureReason } from './events.js';

export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;

export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** The protected header fields a key resolver may use. */
export interface JwtHeader {
  alg: JwtAlgorithm;
  kid?: string;
  typ?: string;
}

/** Finds the verification key for a token; throw (or reject) when there is none. */
export type KeyResolver = (header: JwtHeader) => Promise<KeyObject> | KeyObject;

/** Thrown by a key resolver when no key matches the token's `kid`. */
export class KeyNotFoundError extends Error {
  constructor(message = 'no key matches the token') {
    super(message);
    this.name = 'KeyNotFoundError';
  }
}

export interface JwtOptions {
  /** Accepted `alg` values. Required, no default: name exactly what your issuer signs with. */
  algorithms: JwtAlgorithm[];
  /** HMAC secret (HS*), at least as many bytes as the hash (32 for HS256). */
  secret?: string | Buffer | KeyObject;
  /** PEM or KeyObject public key (RS*, PS*, ES*). RSA keys must be 2048 bits or more. */
  publicKey?: string | Buffer | KeyObject;
  /** Resolves the key per token, e.g. `jwksKeyResolver({ url })`. */
  keyResolver?: KeyResolver;
  /** Accepted `iss` value(s). Required; `false` accepts any issuer (not recommended). */
  issuer: string | string[] | false;
  /** Accepted `aud` value(s). Required; `false` accepts any audience (not recommended). */
  audience: string | string[] | false;
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. Default `5`. */
  clockToleranceSec?: number;
  /** Refuse tokens issued (`iat`) longer ago than this. Default: no limit. */
  maxAgeSec?: number;
  /** Required `typ` header, e.g. `at+jwt` (compared as RFC 8725 says). Default: not checked. */
  typ?: string;
  /** Longest token accepted, in bytes. Default `8192`. */
  maxTokenBytes?: number;
  /**
   * How many verified tokens to remember (static `secret` or `publicKey` only), so a token seen
   * again skips the signature check until it expires; `exp` and `maxAgeSec` are checked on every
   * request. `authenticate()` remembers its `mapClaims` result with the token too, so a mapping
   * that checks changing state (a suspended tenant, a deny-list) is not asked again for a cached
   * token. Default `1000`; `0` turns it off, and `mapClaims` then runs on every request.
   */
  verifiedCacheSize?: number;
}

const JWT_OPTION_NAMES = [
  'algorithms',
  'secret',
  'publicKey',
  'keyResolver',
  'issuer',
  'audience',
  'clockToleranceSec',
  'maxAgeSec',
  'typ',
  'maxTokenBytes',
  'verifiedCacheSize',
] as const;

/** A verified token: the claims and header, and what the caller made of them. */
export interface JwtVerified {
  ok: true;
  claims: Record<string, unknown>;
  header: JwtHeader;
  /**
   * Free for the caller to fill in from the claims. With the verified-token cache, the same
   * object is handed out for every request with the token until it is evicted or expires, so
   * whatever the caller leaves here is remembered exactly as long as the verification.
   */
  memo?: unknown;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
}

export type JwtResult =
  | JwtVerified
  | {
      ok: false;
      reason: AuthFailureReason;
      /** For `claims`: the registered claim that is missing or malformed (`sub`, `exp`, `nbf`, `iat`). */
      field?: string;
    };

const HASH_BYTES: Record<string, number> = { '256': 32, '384': 48, '512': 64 };
const CURVES: Record<string, string> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64'];
const TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const KID = /^[\x21-\x7e]{1,256}$/;
// 72 bits of a signature: two tokens that share them are refused as two different strings.
const CACHE_KEY_CHARS = 12;

function family(alg: string): 'hmac' | 'rsa' | 'ec' {
  return alg.startsWith('HS') ? 'hmac' : alg.startsWith('ES') ? 'ec' : 'rsa';
}

/** Why `key` cannot verify `alg`, or `null` when it can. */
export function keyProblem(key: KeyObject, alg: JwtAlgorithm): string | null {
  const kind = family(alg);
  if (kind === 'hmac') {
    if (key.type !== 'secret') return `${alg} needs a secret key, not a ${key.type} key`;
    const need = HASH_BYTES[alg.slice(2)] ?? 32;
    const size = key.symmetricKeySize ?? 0;
    return size < need ? `the secret is ${size} bytes; ${alg} needs at least ${need}` : null;
  }
  if (key.type !== 'public') return `${alg} needs a public key, not a ${key.type} key`;
  if (kind === 'rsa') {
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') {
      return `${alg} needs an RSA key, not ${key.asymmetricKeyType}`;
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits < 2048 ? `the RSA key is ${bits} bits; at least 2048 are needed` : null;
  }
  if (key.asymmetricKeyType !== 'ec') return `${alg} needs an EC key, not ${key.asymmetricKeyType}`;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve !== CURVES[alg] ? `${alg} needs curve ${CURVES[alg]}, the key is on ${curve}` : null;
}

// The latest moment a NumericDate may name: 9999-12-31T23:59:59Z.
const LAST_NUMERIC_DATE = 253_402_300_799;

/** A NumericDate from 1970 to the end of year 9999; `NaN` and the infinities fail both bounds. */
function isNumericDate(value: unknown): boolean {
  return typeof value === 'number' && value >= 0 && value <= LAST_NUMERIC_DATE;
}

const WHITESPACE = [0x20, 0x09, 0x0a, 0x0d];

/**
 * True when `bytes` is strict UTF-8 that starts with a JSON object and that `JSON.parse` reads
 * one way only: no member name twice in any object (it would keep the last one, where another
 * parser keeps the first or refuses), and no number beyond a double (it would read `1e400` as
 * `Infinity`). One pass with a stack of the open objects' names; the text is parsed afterwards,
 * which refuses whatever else is not JSON, so only structure is followed here.
 */
function isUnambiguousJsonObject(bytes: Buffer): boolean {
  let i = 0;
  while (i < bytes.length && WHITESPACE.includes(bytes[i]!)) i++;
  if (bytes[i] !== 0x7b || !isUtf8(bytes)) return false;
  // One entry per open container: the names seen so far in an object, `null` for an array.
  const open: (Set<string> | null)[] = [];
  let expectName = false;
  for (; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x7b) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b) {
      open.push(null);
      expectName = false;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c) {
      expectName = open.at(-1) != null;
    } else if (c === 0x22) {
      let end = i + 1;
      let escaped = false;
      while (end < bytes.length && bytes[end] !== 0x22) {
        if (bytes[end] === 0x5c) {
          escaped = true;
          end++;
        }
        end++;
      }
      if (end >= bytes.length) return false;
      if (expectName) {
        let name: unknown;
        if (escaped) {
          try {
            name = JSON.parse(bytes.toString('utf8', i, end + 1));
          } catch {
            return false;
          }
        } else {
          name = bytes.toString('utf8', i + 1, end);
        }
        const names = open.at(-1)!;
        if (typeof name !== 'string' || names.has(name)) return false;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      let exponent = false;
      for (; end < bytes.length; end++) {
        const d = bytes[end]!;
        if (d === 0x65 || d === 0x45) exponent = true;
        else if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x2b || d === 0x2d)) break;
      }
      // Only an exponent or more than 308 digits can reach past the largest double.
      if ((exponent || end - i > 308) && !Number.isFinite(Number(bytes.toString('latin1', i, end))))
        return false;
      i = end - 1;
    }
  }
  return true;
}

function decodeJson(segment: string): Record<string, unknown> | null {
  try {
    const bytes = Buffer.from(segment, 'base64url');
    if (!isUnambiguousJsonObject(bytes)) return null;
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

function reasonOf(err: unknown): AuthFailureReason {
  if (err instanceof jsonwebtoken.TokenExpiredError) return 'expired';
  if (err instanceof jsonwebtoken.NotBeforeError) return 'not_yet_valid';
  const message = err instanceof Error ? err.message : '';
  if (message.startsWith('jwt audience invalid')) return 'audience';
  if (message.startsWith('jwt issuer invalid')) return 'issuer';
  if (message === 'invalid signature') return 'signature';
  if (message === 'invalid algorithm') return 'algorithm';
  // jwa throws a TypeError for a signature of the wrong length, e.g. from another curve.
  if (/signature/i.test(message)) return 'signature';
  return 'invalid';
}

function config(message: string, code: `ERR_BULWARK_RBAC_JWT_${string}`): RbacConfigError {
  return new RbacConfigError(code, `authenticate jwt: ${message}`);
}

function toSecretKey(secret: string | Buffer | KeyObject): KeyObject {
  if (secret instanceof KeyObject) return secret;
  if (typeof secret === 'string' || Buffer.isBuffer(secret)) {
    return createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  }
  throw new RbacConfigError(
    'ERR_BULWARK_RBAC_JWT_SECRET',
    'authenticate jwt: `secret` must be a string, Buffer or secret KeyObject.',
  );
}

function toPublicKey(key: string | Buffer | KeyObject): KeyObject {
  if (key instanceof KeyObject) {
    if (key.type === 'private') {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_JWT_KEY',
        'authenticate jwt: `publicKey` is a private key. Give the service only the public key.',
      );
    }
    return key;
  }
  const text = Buffer.isBuffer(key) ? key.toString('utf8') : String(key);
  if (/PRIVATE KEY/.test(text)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_JWT_KEY',
      'authenticate jwt: `publicKey` holds a private key. Give the service only the public key (PEM "PUBLIC KEY").',
    );
  }
  try {
    return createPublicKey(text);
  } catch {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_JWT_KEY',
      'authenticate jwt: `publicKey` could not be parsed. Pass a PEM public key or a KeyObject.',
    );
  }
}

/** Validates JWT options once and returns the verify function `authenticate` uses per request. */
export function createJwtVerifier(
  input: JwtOptions,
): (token: string) => JwtResult | Promise<JwtResult> {
  checkOptionsObject('authenticate jwt', input);
  checkOptionNames('authenticate jwt', input, JWT_OPTION_NAMES);
  const options = defined(input);
  const algorithms = options.algorithms as unknown;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw config(
      `\`algorithms\` is required and has no default, received ${show(algorithms)}. Name what your issuer signs with, such as ['RS256'].`,
      'ERR_BULWARK_RBAC_JWT_ALGORITHMS',
    );
  }
  for (const alg of algorithms) {
    if (!(JWT_ALGORITHMS as readonly unknown[]).includes(alg)) {
      throw config(
        `${show(alg)} is not an accepted algorithm. Use one of ${JWT_ALGORITHMS.join(', ')}; 'none' is never accepted.`,
        'ERR_BULWARK_RBAC_JWT_ALGORITHMS',
      );
    }
  }
  const algs = [...new Set(algorithms as JwtAlgorithm[])];
  const families = new Set(algs.map(family));
  if (families.has('hmac') && families.size > 1) {
    throw config(
      `algorithms ${show(algs)} mix HMAC and public-key algorithms, which invites key confusion. Accept one kind.`,
      'ERR_BULWARK_RBAC_JWT_ALGORITHMS',
    );
  }
  const sources = ['secret', 'publicKey', 'keyResolver'].filter(
    (name) => (options as unknown as Record<string, unknown>)[name] !== undefined,
  );
  if (sources.length !== 1) {
    throw config(
      `give exactly one of \`secret\`, \`publicKey\` or \`keyResolver\`, received ${sources.length ? sources.join(' and ') : 'none'}.`,
      'ERR_BULWARK_RBAC_JWT_KEY',
    );
  }
  let staticKey: KeyObject | undefined;
  if (options.secret !== undefined) staticKey = toSecretKey(options.secret);
  if (options.publicKey !== undefined) staticKey = toPublicKey(options.publicKey);
  if (staticKey) {
    for (const alg of algs) {
      const problem = keyProblem(staticKey, alg);
      if (problem) {
        throw config(
          `${problem}. ${staticKey.type === 'secret' ? 'Use a random secret of at least that many bytes, e.g. crypto.randomBytes(64).' : 'Use a key that matches every listed algorithm.'}`,
          staticKey.type === 'secret' ? 'ERR_BULWARK_RBAC_JWT_SECRET' : 'ERR_BULWARK_RBAC_JWT_KEY',
        );
      }
    }
  }
  if (options.keyResolver !== undefined && typeof options.keyResolver !== 'function') {
    throw config(
      `\`keyResolver\` must be a function, received ${show(options.keyResolver)}. Use jwksKeyResolver({ url }).`,
      'ERR_BULWARK_RBAC_JWT_KEY',
    );
  }
  for (const name of ['issuer', 'audience'] as const) {
    const value = options[name] as unknown;
    const valid =
      value === false ||
      (typeof value === 'string' && value !== '') ||
      (Array.isArray(value) &&
        value.length > 0 &&
        value.every((v) => typeof v === 'string' && v !== ''));
    if (!valid) {
      throw config(
        `\`${name}\` is required, received ${show(value)}. Name the accepted ${name === 'issuer' ? 'issuer, such as "https://auth.example.com/"' : 'audience, such as "https://api.example.com"'}, or pass false to accept any (not recommended).`,
        name === 'issuer' ? 'ERR_BULWARK_RBAC_JWT_ISSUER' : 'ERR_BULWARK_RBAC_JWT_AUDIENCE',
      );
    }
  }
  const number = (
    name: 'clockToleranceSec' | 'maxAgeSec' | 'maxTokenBytes' | 'verifiedCacheSize',
    fallback: number | undefined,
    min: number,
  ) => {
    const value = options[name] ?? fallback;
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw config(
        `${name}: ${show(value)} is not valid. Use a number of at least ${min}.`,
        'ERR_BULWARK_RBAC_JWT_OPTION',
      );
    }
    return value;
  };
  const clockTolerance = number('clockToleranceSec', 5, 0)!;
  if (clockTolerance > 300) {
    throw config(
      `clockToleranceSec: ${clockTolerance} is too lenient. Keep it at 300 seconds or less; fix the clocks instead.`,
      'ERR_BULWARK_RBAC_JWT_OPTION',
    );
  }
  const maxAge = number('maxAgeSec', undefined, 1);
  const maxTokenBytes = number('maxTokenBytes', 8192, 256)!;
  const cacheSize = number('verifiedCacheSize', 1000, 0)!;
  if (!Number.isInteger(cacheSize)) {
    throw config(
      `verifiedCacheSize: ${show(cacheSize)} is not valid. Use a whole number of tokens, such as 1000, or 0 to turn the cache off.`,
      'ERR_BULWARK_RBAC_JWT_OPTION',
    );
  }
  if (options.typ !== undefined && (typeof options.typ !== 'string' || options.typ === '')) {
    throw config(
      `typ: ${show(options.typ)} is not valid. Use a string such as 'at+jwt'.`,
      'ERR_BULWARK_RBAC_JWT_OPTION',
    );
  }
  const expectedTyp = options.typ === undefined ? undefined : normalizeTyp(options.typ);
  const resolver = options.keyResolver;
  const verifyOptions: jsonwebtoken.VerifyOptions = {
    algorithms: algs,
    clockTolerance,
    ...(options.issuer === false
      ? {}
      : { issuer: options.issuer as string | [string, ...string[]] }),
    ...(options.audience === false
      ? {}
      : { audience: options.audience as string | [string, ...string[]] }),
  };
  // maxAgeSec is checked here, not by jsonwebtoken, which measures from `iat || now` and so lets
  // `iat: 0` through; one function serves the first verification and every cache hit alike.
  const tooOld = (iat: unknown, now: number): AuthFailureReason | undefined => {
    if (maxAge === undefined) return undefined;
    if (typeof iat !== 'number' || !Number.isFinite(iat) || iat <= 0) return 'claims';
    return now >= iat + maxAge + clockTolerance ? 'expired' : undefined;
  };

  // Only with a static key: a resolved key can be rotated out, and the cache would outlive it.
  // Keyed by the token's last characters, from its signature, and compared in full on a hit: a
  // string key is hashed whole on every lookup, and a token is hundreds of characters long.
  const verified =
    staticKey && cacheSize > 0
      ? new LRUCache<string, { token: string; result: JwtVerified }>({ max: cacheSize })
      : undefined;
  // The entry the cache holds as its most recently used: the one read or written last, cleared
  // when an entry is deleted. A client sending its token again, request after request, finds it
  // here without cutting a cache key from the token or a lookup, and a lookup would not change the
  // cache's order.
  let latest: { token: string; result: JwtVerified } | undefined;

  const finish = (token: string, key: KeyObject, jwtHeader: JwtHeader): JwtResult => {
    let claims: Record<string, unknown>;
    try {
      claims = jsonwebtoken.verify(token, key, verifyOptions) as Record<string, unknown>;
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      return { ok: false, reason: 'malformed' };
    }
    // jsonwebtoken compares these as they come: `exp: 1e300` would never expire, and a date
    // before 1970 would pass as `nbf` or `iat`, though no issuer means either.
    if (!isNumericDate(claims.exp)) return { ok: false, reason: 'claims', field: 'exp' };
    for (const field of ['nbf', 'iat'] as const) {
      if (claims[field] !== undefined && !isNumericDate(claims[field])) {
        return { ok: false, reason: 'claims', field };
      }
    }
    if (claims.iat !== undefined) {
      if ((claims.iat as number) > Date.now() / 1000 + clockTolerance) {
        return { ok: false, reason: 'not_yet_valid' };
      }
    }
    if (typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.length > 256) {
      return { ok: false, reason: 'claims', field: 'sub' };
    }
    const age = tooOld(claims.iat, Math.floor(Date.now() / 1000));
    if (age)
      return age === 'claims'
        ? { ok: false, reason: age, field: 'iat' }
        : { ok: false, reason: age };
    const result: JwtVerified = { ok: true, claims, header: jwtHeader };
    if (verified) {
      deepFreeze(claims);
      latest = { token, result };
      verified.set(token.slice(-CACHE_KEY_CHARS), latest);
    }
    return result;
  };

  /** A token verified before: only the checks that depend on the clock can change their answer. */
  const recheck = (token: string, hit: JwtVerified): JwtResult => {
    // The same clock reading and comparisons jsonwebtoken makes.
    const now = Math.floor(Date.now() / 1000);
    const reason =
      now >= (hit.claims.exp as number) + clockTolerance ? 'expired' : tooOld(hit.claims.iat, now);
    if (reason) {
      latest = undefined;
      verified!.delete(token.slice(-CACHE_KEY_CHARS));
      return { ok: false, reason };
    }
    return hit;
  };

  const resolveAndFinish = async (token: string, jwtHeader: JwtHeader): Promise<JwtResult> => {
    let key: KeyObject;
    try {
      key = await resolver!(jwtHeader);
    } catch (err) {
      return {
        ok: false,
        reason: err instanceof KeyNotFoundError ? 'unknown_key' : 'key_unavailable',
      };
    }
    if (!(key instanceof KeyObject) || keyProblem(key, jwtHeader.alg)) {
      return { ok: false, reason: 'unknown_key' };
    }
    return finish(token, key, jwtHeader);
  };

  // Synchronous with a static key, so the common case costs no extra promise turns.
  return function verifyJwt(token: string): JwtResult | Promise<JwtResult> {
    if (token.length > maxTokenBytes) return { ok: false, reason: 'malformed' };
    // Only a token that passed every check below is remembered, and only its exact string hits.
    if (latest !== undefined && latest.token === token) return recheck(token, latest.result);
    const remembered = verified?.get(token.slice(-CACHE_KEY_CHARS));
    if (remembered !== undefined) {
      latest = remembered;
      if (remembered.token === token) return recheck(token, remembered.result);
    }
    if (!TOKEN.test(token)) return { ok: false, reason: 'malformed' };
    const [headerPart, payloadPart, signature] = token.split('.') as [string, string, string];
    const header = decodeJson(headerPart);
    // The payload is parsed once, by jsonwebtoken; here it is only scanned, so that what
    // jsonwebtoken reads is what every other parser of the same token would read.
    if (!header || !isUnambiguousJsonObject(Buffer.from(payloadPart, 'base64url'))) {
      return { ok: false, reason: 'malformed' };
    }
    if (typeof header.alg !== 'string' || !algs.includes(header.alg as JwtAlgorithm)) {
      return { ok: false, reason: 'algorithm' };
    }
    if (FORBIDDEN_HEADERS.some((name) => name in header)) return { ok: false, reason: 'header' };
    if (header.kid !== undefined && (typeof header.kid !== 'string' || !KID.test(header.kid))) {
      return { ok: false, reason: 'header' };
    }
    if (
      expectedTyp !== undefined &&
      (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== expectedTyp)
    ) {
      return { ok: false, reason: 'type' };
    }
    if (signature === '') return { ok: false, reason: 'signature' };
    const jwtHeader: JwtHeader = {
      alg: header.alg as JwtAlgorithm,
      ...(typeof header.kid === 'string' ? { kid: header.kid } : {}),
      ...(typeof header.typ === 'string' ? { typ: header.typ } : {}),
    };
    return staticKey ? finish(token, staticKey, jwtHeader) : resolveAndFinish(token, jwtHeader);
  };
}
