// Option checking shared by the factories: unknown names with a hint, and readable files.
import { readFileSync, statSync } from 'node:fs';
import { closestName } from '../../../internal/suggest.js';
import { MqttConfigError } from './errors.js';

/**
 * Throws `ERR_BULWARK_MQTT_UNKNOWN_OPTION` for a name not in `known`, suggesting the intended one
 * from `aliases` (names other libraries use) or the closest known name.
 */
export function assertKnownOptions(
  where: string,
  options: object,
  known: readonly string[],
  aliases: Readonly<Record<string, string>> = {},
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const hint = Object.hasOwn(aliases, name) ? aliases[name] : closestName(name, known);
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_UNKNOWN_OPTION',
      `${where}: unknown option "${name}".${hint ? ` Did you mean "${hint}"?` : ''} Known options: ${known.join(', ')}.`,
    );
  }
}

/** Reads a file given as an option, or throws `ERR_BULWARK_MQTT_FILE_UNREADABLE` naming the option and path. */
export function readOptionFile(option: string, path: unknown): Buffer {
  if (typeof path !== 'string' || path === '') {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_FILE_UNREADABLE',
      `${option} must be a file path (a non-empty string), got ${typeof path}.`,
    );
  }
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_FILE_UNREADABLE',
      `${option}: cannot read "${path}" (${reason}). Check the path and that this process may read it.`,
    );
  }
}

/** True when a secret file can be read by its group or by others (it should be 0600 or 0400). */
export function isSharedSecretFile(path: string): boolean {
  try {
    return process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}
