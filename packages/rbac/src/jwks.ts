// A key resolver that fetches a JWKS document, caches keys by `kid` and rate-limits refetches.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import { warn } from './events.js';
import { type JwtHeader, KeyNotFoundError, type KeyResolver, keyProblem } from './jwt.js';
import type { Logger } from './types.js';

export interface JwksOptions {
  /** The issuer's JWKS URL. Must be https, except on loopback or with `allowInsecureHttp`. */
  url: string;
  /** How long fetched keys are trusted before a refetch, in ms. Default `600_000` (10 min). */
  cacheMaxAgeMs?: number;
  /** Least time between two fetches, so unknown `kid`s cannot hammer the issuer. Default `30_000`. */
  cooldownMs?: number;
  /** Fetch timeout in ms. Default `3000`. */
  timeoutMs?: number;
  /** Largest JWKS document accepted, in bytes. Default `262_144`. */
  maxBytes?: number;
  /** Allow `http:` to a non-loopback host. Default `false`. */
  allowInsecureHttp?: boolean;
  /** Receives a warning when a fetch fails. Default: `process.emitWarning`. */
  logger?: Logger;
}

const NAMES = [
  'url',
  'cacheMaxAgeMs',
  'cooldownMs',
  'timeoutMs',
  'maxBytes',
  'allowInsecureHttp',
  'logger',
] as const;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

interface CachedKey {
  key: KeyObject;
  alg?: string;
}

/** A key resolver that also reports how many fetches it made (for health checks and tests). */
export interface JwksKeyResolver extends KeyResolver {
  /** Number of JWKS fetches attempted so far. */
  readonly fetches: number;
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > maxBytes) throw new Error(`JWKS is ${length} bytes, more than ${maxBytes}`);
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`JWKS is more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJwks(text: string): Map<string, CachedKey> {
  const doc = JSON.parse(text) as { keys?: unknown };
  if (!doc || !Array.isArray(doc.keys)) throw new Error('JWKS has no keys array');
  const keys = new Map<string, CachedKey>();
  for (const jwk of doc.keys as Record<string, unknown>[]) {
    if (!jwk || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || jwk.kid === '') continue;
    // Symmetric and private keys never belong in a published key set.
    if (jwk.kty === 'oct' || 'd' in jwk) continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    try {
      const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      keys.set(jwk.kid, { key, ...(typeof jwk.alg === 'string' ? { alg: jwk.alg } : {}) });
    } catch {
      // A key this runtime cannot parse is skipped; the others stay usable.
    }
  }
  return keys;
}

/**
 * Resolves a token's key from the issuer's JWKS by `kid`. Keys are cached for `cacheMaxAgeMs`;
 * an unknown `kid` triggers at most one refetch per `cooldownMs`; a failed fetch keeps the keys
 * already known. Every failure becomes a 401 in `authenticate`, never a 500.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_JWKS_URL` for a missing, invalid or plain-http URL.
 * @example
 * authenticate({ jwt: { algorithms: ['RS256'], issuer, audience,
 *   keyResolver: jwksKeyResolver({ url: 'https://auth.example.com/.well-known/jwks.json' }) } });
 */
export function jwksKeyResolver(input: JwksOptions): JwksKeyResolver {
  checkOptionsObject('jwksKeyResolver', input);
  checkOptionNames('jwksKeyResolver', input, NAMES);
  const options = defined(input);
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_JWKS_URL',
      `jwksKeyResolver: url ${show(options.url)} is not a valid URL. Use the issuer's https JWKS URL.`,
    );
  }
  const insecure =
    url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && options.allowInsecureHttp !== true;
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || insecure) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_JWKS_URL',
      `jwksKeyResolver: url ${show(url.origin)} is not https. Keys fetched over plain http can be swapped in transit; use https, or set allowInsecureHttp on a trusted network.`,
    );
  }
  const ms = (
    name: 'cacheMaxAgeMs' | 'cooldownMs' | 'timeoutMs' | 'maxBytes',
    fallback: number,
  ) => {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_JWKS_OPTION',
        `jwksKeyResolver: ${name}: ${show(value)} is not valid. Use a positive number, such as ${fallback}.`,
      );
    }
    return value;
  };
  const cacheMaxAgeMs = ms('cacheMaxAgeMs', 600_000);
  const cooldownMs = ms('cooldownMs', 30_000);
  const timeoutMs = ms('timeoutMs', 3000);
  const maxBytes = ms('maxBytes', 262_144);
  const logger = options.logger;
  const href = url.href;

  let keys = new Map<string, CachedKey>();
  let fetchedAt = 0;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;
  let fetches = 0;
  let lastFetchFailed = false;

  const refresh = (): Promise<void> => {
    inFlight ??= (async () => {
      attemptedAt = Date.now();
      fetches++;
      try {
        const response = await fetch(href, {
          signal: AbortSignal.timeout(timeoutMs),
          headers: { accept: 'application/jwk-set+json, application/json' },
          redirect: 'error',
        });
        if (!response.ok) throw new Error(`JWKS answered HTTP ${response.status}`);
        keys = parseJwks(await readLimited(response, maxBytes));
        fetchedAt = Date.now();
        lastFetchFailed = false;
      } catch (err) {
        lastFetchFailed = true;
        warn(
          logger,
          'ERR_BULWARK_RBAC_JWKS_FETCH',
          'the JWKS could not be fetched; keeping the keys already known',
          {
            url: url.origin + url.pathname,
            error: err instanceof Error ? err.message : String(err),
          },
        );
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  const resolve = async (header: JwtHeader): Promise<KeyObject> => {
    const kid = header.kid;
    if (kid === undefined) throw new KeyNotFoundError('the token has no kid');
    const now = Date.now();
    const cooled = now - attemptedAt >= cooldownMs;
    if ((!keys.has(kid) || now - fetchedAt > cacheMaxAgeMs) && (cooled || inFlight))
      await refresh();
    const found = keys.get(kid);
    if (!found && lastFetchFailed) throw new Error('the JWKS is unavailable');
    if (!found) throw new KeyNotFoundError();
    if (found.alg !== undefined && found.alg !== header.alg)
      throw new KeyNotFoundError('the key is for another algorithm');
    if (keyProblem(found.key, header.alg))
      throw new KeyNotFoundError('the key does not fit the algorithm');
    return found.key;
  };
  Object.defineProperty(resolve, 'fetches', { get: () => fetches });
  return resolve as JwksKeyResolver;
}
