// Shared option checks: unknown names with a "did you mean" hint, numbers, and misuse as middleware.
import { checkOptionsObject } from '../../../internal/options.js';
import { ValidatorsConfigError } from './errors.js';

/**
 * Refuses a non-object options argument, a request passed where options belong (the factory was
 * mounted without being called), and any option name not in `known`.
 */
export function checkOptions(
  factory: string,
  options: unknown,
  known: readonly string[],
): Record<string, unknown> {
  return checkOptionsObject(factory, options, known, describe, (problem, message) => {
    throw new ValidatorsConfigError(CODES[problem], message);
  });
}

const CODES = {
  not_called: 'ERR_BULWARK_VALIDATORS_NOT_CALLED',
  not_an_object: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
  unknown_option: 'ERR_BULWARK_VALIDATORS_UNKNOWN_OPTION',
} as const;

/** A short, safe description of a configuration value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof RegExp) return String(value);
  return `a ${typeof value}`;
}

/** An integer within [min, max], or the default when undefined; anything else throws. */
export function integerOption(
  factory: string,
  name: string,
  value: unknown,
  fallback: number,
  {
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
    example,
  }: { min?: number; max?: number; example: string },
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${factory}: ${name}: ${describe(value)} is not valid. Use an integer from ${min} to ${max}, such as ${example}.`,
    );
  }
  return value;
}

/** A boolean, or the default when undefined. */
export function booleanOption(
  factory: string,
  name: string,
  value: unknown,
  fallback: boolean,
): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${factory}: ${name}: ${describe(value)} is not valid. Use true or false.`,
    );
  }
  return value;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses a byte size given as a number or a string such as `'100kb'` or `'10mb'`. */
export function byteSizeOption(
  factory: string,
  name: string,
  value: unknown,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  let bytes: number | undefined;
  if (typeof value === 'number' && Number.isInteger(value)) bytes = value;
  if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
    if (match) bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
  }
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 1) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${factory}: ${name}: ${describe(value)} is not a valid size. Use a positive number of bytes or a string such as '100kb' or '10mb'.`,
    );
  }
  return bytes;
}
