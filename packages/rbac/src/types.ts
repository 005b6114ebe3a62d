// Public types shared by the authenticators, guards and stores, and the `req.auth` declaration.

/** Who made the request, set on `req.auth` by every authenticator in this package. */
export interface AuthContext {
  /** The authenticated principal: the JWT `sub`, `api-key:<id>` or the Basic user name. */
  subject: string;
  /** The tenant the request acts for; `null` for operators not bound to a tenant. */
  tenantId: string | null;
  /** `customer` for tenant users and keys, `operator` for platform staff. */
  scope: 'customer' | 'operator';
  /**
   * How the caller authenticated: a Bearer JWT, a JWT in the session cookie, an API key or HTTP
   * Basic.
   */
  via: 'jwt' | 'cookie' | 'api-key' | 'basic';
  /** The verified JWT payload (Bearer or cookie); empty for API keys and Basic users. */
  claims: Readonly<Record<string, unknown>>;
  /** Granted permissions, once known (API key scopes, configured users, or loaded on demand). */
  permissions?: readonly string[];
  /** The API key's id, when `via` is `api-key`. */
  apiKeyId?: string;
}

declare global {
  namespace Express {
    interface Request {
      /** Set by `@bulwark/rbac` once the caller is authenticated. */
      auth?: AuthContext;
    }
  }
}

/** A winston-shaped logger. */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Anything with `pg`'s `query(text, values)`: a `pg.Pool`, a `pg.Client` or a wrapper. */
export interface Queryable {
  query(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount?: number | null }>;
}

/** A client that can LISTEN: what `pg.Pool#connect()` resolves to. */
export interface ListeningClient extends Queryable {
  on(
    event: 'notification',
    listener: (message: { channel: string; payload?: string }) => void,
  ): unknown;
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown;
  removeAllListeners?(event?: string): unknown;
  release?(err?: Error | boolean): void;
  end?(): Promise<void> | void;
}

/** A `pg.Pool`-like database: queries, plus dedicated connections for LISTEN. */
export interface PoolLike extends Queryable {
  connect(): Promise<ListeningClient>;
}

/** The caller an API key belongs to, as returned by a key verifier. */
export interface ApiKeyIdentity {
  id: string;
  tenantId: string | null;
  scopes: readonly string[];
  scope?: 'customer' | 'operator';
  name?: string;
}

/** Anything that can check an API key: `createApiKeys()` or `staticApiKeys()`. */
export interface ApiKeyVerifier {
  verify(key: string): Promise<ApiKeyIdentity | null> | ApiKeyIdentity | null;
}
