// requestClasses() and createAppServer(): an Express app served with request and response objects
// built on the app's own prototypes, so Express has no prototype to change on each request.
import {
  createServer,
  IncomingMessage,
  type RequestListener,
  type Server,
  ServerResponse,
} from 'node:http';
import { describe, PerimeterConfigError } from './errors.js';
import { type HardenServerOptions, hardenServer } from './harden-server.js';

/** What `requestClasses` needs of an app: what `express()` returns (Express 4 or 5). */
export interface ServableApp {
  (req: IncomingMessage, res: ServerResponse): unknown;
  /** The prototype Express gives every request of the app. */
  request: object;
  /** The prototype Express gives every response of the app. */
  response: object;
}

/** The request and response classes of one app, for `http.createServer` or `https.createServer`. */
export interface RequestClasses {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

const made = new WeakMap<object, RequestClasses>();

const inherits = (value: unknown, proto: object): value is object =>
  typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(proto, value);

/**
 * A subclass of `base` whose prototype stands in for `proto`: the same own properties, the same
 * prototype. Objects the subclass makes are created with it as their prototype, and V8 gives them
 * one hidden class per shape, the one it caches for a subclass.
 */
function standIn<T extends typeof IncomingMessage | typeof ServerResponse>(
  base: T,
  proto: object,
): T {
  const Made = class extends (base as typeof IncomingMessage) {} as unknown as T;
  const prototype = Made.prototype as object;
  // Instances keep the constructor they had (IncomingMessage or ServerResponse), found further up.
  Reflect.deleteProperty(prototype, 'constructor');
  for (const key of Reflect.ownKeys(proto)) {
    Object.defineProperty(prototype, key, Object.getOwnPropertyDescriptor(proto, key)!);
  }
  Object.setPrototypeOf(prototype, Object.getPrototypeOf(proto));
  // Sub-apps mounted before inherit from `proto`; through the stand-in they also see what is
  // added to the app's prototype after this.
  Reflect.setPrototypeOf(proto, prototype);
  return Made;
}

/**
 * The request and response classes to create the server of an Express app with, so that each
 * request and response is made with the app's prototypes from the start. Express otherwise
 * changes both objects' prototypes on every request (`Object.setPrototypeOf` in `app.handle`),
 * and on Node.js 20 and 22 V8 then makes new hidden classes for the two objects of every request:
 * every property access on them misses its inline cache and the garbage collector has far more to
 * do. Served with these classes, a bare Express 5 app takes about a quarter of the CPU time per
 * request on Node.js 20 and 22 (see docs/benchmarks.md); on Node.js 24 and later it gains little.
 *
 * It replaces `app.request` and `app.response` with objects of the same own properties and the
 * same prototypes (the classes' prototypes). Add to `app.request` and `app.response` after this
 * call, and mount sub-apps before or after it as usual; the server must be created with both
 * classes. Calling it again for the same app returns the same classes.
 *
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NOT_AN_APP` for anything but an Express
 *   app.
 * @example
 * const server = https.createServer({ key, cert, ...requestClasses(app) }, app);
 */
export function requestClasses(app: ServableApp): RequestClasses {
  const parts = app as unknown as { request?: unknown; response?: unknown } | undefined;
  if (
    typeof app !== 'function' ||
    !inherits(parts?.request, IncomingMessage.prototype) ||
    !inherits(parts?.response, ServerResponse.prototype)
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NOT_AN_APP',
      `requestClasses: ${describe(app)} is not an Express app. Pass what express() returns.`,
    );
  }
  const known = made.get(app);
  if (
    known &&
    app.request === known.IncomingMessage.prototype &&
    app.response === known.ServerResponse.prototype
  ) {
    return known;
  }
  const classes: RequestClasses = {
    IncomingMessage: standIn(IncomingMessage, app.request),
    ServerResponse: standIn(ServerResponse, app.response),
  };
  app.request = classes.IncomingMessage.prototype;
  app.response = classes.ServerResponse.prototype;
  made.set(app, classes);
  return classes;
}

/**
 * An HTTP server for an Express app, made with {@link requestClasses} and hardened by
 * {@link hardenServer}; call `listen` on it as on `app.listen`'s server.
 *
 * @param app What `express()` returns.
 * @param options The limits of {@link HardenServerOptions}; every field has a safe default.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NOT_AN_APP` for anything but an Express
 *   app, and every error of `hardenServer` for a bad limit.
 * @example
 * const server = createAppServer(app).listen(3000, '127.0.0.1');
 */
export function createAppServer(app: ServableApp, options?: HardenServerOptions): Server {
  const classes = requestClasses(app);
  return hardenServer(createServer(classes, app as RequestListener), options);
}
