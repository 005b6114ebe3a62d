// HttpProblem: an HTTP error a route throws in one line, rendered by errorHandler() as problem+json.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { checkOptions, describeValue, ErrorHandlerConfigError, invalidOption } from './config.js';
import { CODE_PATTERN, defaultCode, genericDetail, RESERVED_HEADERS } from './problem.js';

/** One field-level failure, as `@bulwark/validators` reports them in `errors`. */
export interface ProblemFieldError {
  /** Where the field is: `'body'`, `'query'`, `'params'`, `'headers'`, … Default none. */
  location?: string;
  /** JSON Pointer to the field, e.g. `'/body/email'`. */
  pointer: string;
  /** What is wrong with it, without echoing the value. */
  message: string;
}

/** Options of `new HttpProblem()` and its shortcuts. */
export interface HttpProblemOptions {
  /** Stable snake_case code clients can branch on. Default: named after the status (`not_found`). */
  code?: string;
  /** Safe, structured information for the client, shown as `details`. Default none. */
  details?: Record<string, unknown>;
  /** Field-level failures, shown as `errors`. Default none. */
  errors?: readonly ProblemFieldError[];
  /** Response headers the client needs, such as `WWW-Authenticate` or `Allow`. Default none. */
  headers?: Readonly<Record<string, string>>;
  /** Seconds to wait (a non-negative integer) or a date; sets `Retry-After`. Default none. */
  retryAfter?: number | Date;
  /**
   * Show the message, code, errors and details to the client. Default `true` for 4xx and
   * `false` for 5xx, whose client sees the status's generic body and only `Retry-After`.
   */
  expose?: boolean;
  /** The error behind this one: logged by errorHandler() with the problem, never shown. */
  cause?: unknown;
}

const KNOWN = ['code', 'details', 'errors', 'headers', 'retryAfter', 'expose', 'cause'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function checkErrors(value: unknown): readonly ProblemFieldError[] {
  const fix =
    "Pass an array of { pointer, message } objects, such as [{ pointer: '/body/email', message: 'must be an email address' }].";
  if (!Array.isArray(value)) invalidOption('HttpProblem', 'errors', value, fix);
  for (const item of value) {
    if (
      !isPlainObject(item) ||
      typeof item.pointer !== 'string' ||
      typeof item.message !== 'string' ||
      (item.location !== undefined && typeof item.location !== 'string')
    ) {
      invalidOption('HttpProblem', 'errors', item, fix);
    }
  }
  return value as readonly ProblemFieldError[];
}

function checkHeaders(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) {
    invalidOption(
      'HttpProblem',
      'headers',
      value,
      "Pass an object such as { Allow: 'GET, HEAD' }.",
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    const lower = name.toLowerCase();
    // Header values can be credentials: messages name the header, never quote its value.
    if (
      RESERVED_HEADERS.has(lower) ||
      (lower === 'connection' && String(header).trim().toLowerCase() !== 'close')
    ) {
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_INVALID_OPTION',
        `HttpProblem: headers: ${describeValue(name)} cannot be set by an error: errorHandler() sets it for the problem+json answer itself. Leave it out.`,
      );
    }
    let valid = typeof header === 'string';
    try {
      validateHeaderName(name);
      if (valid) validateHeaderValue(name, header as string);
    } catch {
      valid = false;
    }
    if (!valid) {
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_INVALID_OPTION',
        `HttpProblem: headers: ${describeValue(name)} is not a valid header name, or its value is not a string a header can carry. Use a valid name with a string value, without line breaks.`,
      );
    }
    headers[name] = header as string;
  }
  return headers;
}

function retryAfterHeader(value: unknown): string {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toUTCString();
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return invalidOption(
    'HttpProblem',
    'retryAfter',
    value,
    'Use a whole number of seconds, such as 30, or a Date.',
  );
}

/**
 * An HTTP error to throw (or pass to `next`) from a route: `errorHandler()` renders it as the
 * same problem+json as every other error, with its `status`, `code`, message as `detail`,
 * `errors`, `details` and headers. It has the fields of an `http-errors` error (`status`,
 * `statusCode`, `expose`, `headers`), so Express's own handler answers it with the right status
 * too. Bad arguments throw an `ErrorHandlerConfigError` at once, naming the fix.
 *
 * @throws {ErrorHandlerConfigError} ERR_BULWARK_ERRORS_INVALID_OPTION for a status outside
 *   400-599, a code that is not snake_case, a reserved or invalid header, a bad `retryAfter`;
 *   ERR_BULWARK_ERRORS_UNKNOWN_OPTION for a misspelled option.
 * @example
 * app.get('/devices/:id', async (req, res) => {
 *   const device = await findDevice(req.params.id);
 *   if (!device) throw HttpProblem.notFound('No such device.', { code: 'device_not_found' });
 *   res.json(device);
 * });
 */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  /** The HTTP status, 400 to 599. */
  readonly status: number;
  /** The same as `status`, as http-errors and Express's own handler read it. */
  readonly statusCode: number;
  /** Whether the client sees the message, code, errors and details. */
  readonly expose: boolean;
  /** Stable snake_case code. */
  readonly code: string;
  // Declared only: a problem without them has no such own property at all.
  /** Safe, structured information shown as `details`. */
  declare readonly details?: Record<string, unknown>;
  /** Field-level failures shown as `errors`. */
  declare readonly errors?: readonly ProblemFieldError[];
  /** Response headers errorHandler() sets (only `Retry-After` when not exposed). */
  declare readonly headers?: Readonly<Record<string, string>>;

  /**
   * @param status An error status, 400 to 599.
   * @param message Shown to the client as `detail` when exposed. Default: the status's generic
   *   sentence, such as `'Not found'`.
   */
  constructor(status: number, message?: string, options?: HttpProblemOptions) {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
      invalidOption(
        'HttpProblem',
        'status',
        status,
        'Use an error status from 400 to 599, such as 404, or a shortcut such as HttpProblem.notFound().',
      );
    }
    if (message !== undefined && typeof message !== 'string') {
      invalidOption(
        'HttpProblem',
        'message',
        message,
        "Pass a sentence such as 'No such device.'.",
      );
    }
    const opts = checkOptions<HttpProblemOptions>(
      'HttpProblem',
      options === undefined ? [] : [options],
      KNOWN,
    );
    super(
      message === undefined || message.trim() === '' ? genericDetail(status) : message,
      Object.hasOwn(opts, 'cause') ? { cause: opts.cause } : undefined,
    );
    this.status = status;
    this.statusCode = status;
    const expose = opts.expose ?? status < 500;
    if (typeof expose !== 'boolean')
      invalidOption('HttpProblem', 'expose', expose, 'Use true or false.');
    this.expose = expose;
    const code = opts.code ?? defaultCode(status);
    if (typeof code !== 'string' || !CODE_PATTERN.test(code)) {
      invalidOption(
        'HttpProblem',
        'code',
        code,
        "Use a snake_case code of at most 64 characters, such as 'device_not_found'.",
      );
    }
    this.code = code;
    if (opts.details !== undefined) {
      if (!isPlainObject(opts.details)) {
        invalidOption(
          'HttpProblem',
          'details',
          opts.details,
          'Pass a plain object such as { limit: 10 }.',
        );
      }
      this.details = opts.details;
    }
    if (opts.errors !== undefined) this.errors = checkErrors(opts.errors);
    let headers = opts.headers === undefined ? undefined : checkHeaders(opts.headers);
    if (opts.retryAfter !== undefined) {
      if (
        headers !== undefined &&
        Object.keys(headers).some((name) => name.toLowerCase() === 'retry-after')
      ) {
        invalidOption(
          'HttpProblem',
          'retryAfter',
          opts.retryAfter,
          "Give Retry-After once: either retryAfter or headers['Retry-After'].",
        );
      }
      headers = { ...headers, 'Retry-After': retryAfterHeader(opts.retryAfter) };
    }
    if (headers !== undefined) this.headers = headers;
  }

  /** 400 `bad_request`: the request is malformed. */
  static badRequest(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(400, message, options);
  }

  /** 401 `unauthorized`: no valid credentials. Pass the `WWW-Authenticate` challenge in `headers`. */
  static unauthorized(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(401, message, options);
  }

  /** 403 `forbidden`: the caller is known but may not do this. */
  static forbidden(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(403, message, options);
  }

  /** 404 `not_found`: no such resource. */
  static notFound(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(404, message, options);
  }

  /** 409 `conflict`: the request conflicts with the resource's current state. */
  static conflict(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(409, message, options);
  }

  /** 422 `unprocessable_entity`: well-formed, but its values are not acceptable. */
  static unprocessableEntity(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(422, message, options);
  }

  /** 429 `too_many_requests`: slow down; give `retryAfter`. */
  static tooManyRequests(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(429, message, options);
  }

  /**
   * 503 `service_unavailable`: try again later; give `retryAfter`. Not exposed by default: the
   * client gets the generic body and `Retry-After`; pass `expose: true` to show the message.
   */
  static serviceUnavailable(message?: string, options?: HttpProblemOptions): HttpProblem {
    return new HttpProblem(503, message, options);
  }
}
