// The commands of the `bulwark-certs` CLI, kept apart from the entry point so they can be tested.
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import {
  addDevice,
  createCertificates,
  revokeDevice,
  writeMosquittoConfig,
} from './certificates.js';
import { MqttConfigError } from './errors.js';

export const USAGE = `Usage: bulwark-certs <command> [options]

Commands:
  init         Create a CA, broker certificate, device certificates, service passwords,
               mosquitto.conf and ACL in --dir.
               --dir DIR  --host NAME_OR_IP (repeat)  --device ID (repeat)  --service NAME (repeat)
               [--ca-name NAME] [--days N] [--port N] [--service-port N] [--bind ADDR] [--force]
  add-device   Issue (or rotate) a device certificate: --dir DIR --device ID [--days N] [--revoke-previous]
  revoke       Revoke a device and rewrite the CRL: --dir DIR --device ID [--serial HEX]
  config       Rewrite mosquitto.conf: --dir DIR [--port N] [--service-port N] [--bind ADDR]
  help         Show this text.

Private keys and passwords are written with mode 0600. mosquitto.conf names the owner of the
broker key as Mosquitto's user, the account it switches to when started as root. Mosquitto reads
the CRL at start: restart the broker after a revocation.`;

const OPTIONS = {
  dir: { type: 'string' },
  host: { type: 'string', multiple: true },
  device: { type: 'string', multiple: true },
  service: { type: 'string', multiple: true },
  'ca-name': { type: 'string' },
  days: { type: 'string' },
  port: { type: 'string' },
  'service-port': { type: 'string' },
  bind: { type: 'string' },
  serial: { type: 'string' },
  force: { type: 'boolean' },
  'revoke-previous': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed))
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_CLI',
      `--${name}: ${JSON.stringify(value)} is not a number.`,
    );
  return parsed;
}

function required(name: string, value: string | undefined): string {
  if (!value)
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_CLI',
      `--${name} is required. Run bulwark-certs help.`,
    );
  return value;
}

function only(name: string, values: string[] | undefined): string {
  if (values?.length !== 1)
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_CLI',
      `--${name} is required once. Run bulwark-certs help.`,
    );
  return values[0] as string;
}

/** The name of the account `uid`, from the password database; undefined when it is not listed. */
function accountName(uid: number): string | undefined {
  if (uid === 0) return 'root';
  const me = userInfo();
  if (uid === me.uid) return me.username;
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === uid) return name;
    }
  } catch {
    // No readable password database: the caller leaves Mosquitto's own default.
  }
  return undefined;
}

/**
 * Mosquitto started as root switches to its `user` (`mosquitto` by default) before it reads the
 * broker key and the password file, which only their owner may read (mode 0600). Naming the
 * owner of the key as `user` lets the broker started as root read them; started as that account,
 * the line changes nothing. Returns the account written, or undefined when it cannot be named.
 */
function runBrokerAsKeyOwner(confFile: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  const text = readFileSync(confFile, 'utf8');
  const keyFile = /^keyfile (.+)$/m.exec(text)?.[1];
  if (keyFile === undefined) return undefined;
  const owner = accountName(statSync(keyFile).uid);
  if (owner === undefined || !/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(owner)) return undefined;
  const [header = '', ...rest] = text.split('\n');
  const lines = [
    header,
    '# Started as root, Mosquitto switches to this account: the owner of the broker key.',
    `user ${owner}`,
    ...rest,
  ];
  const temporary = `${confFile}.${process.pid}.tmp`;
  writeFileSync(temporary, lines.join('\n'), { mode: 0o644 });
  chmodSync(temporary, 0o644);
  renameSync(temporary, confFile);
  return owner;
}

function brokerUserLines(confFile: string, out: (line: string) => void): void {
  const owner = runBrokerAsKeyOwner(confFile);
  if (owner === undefined) {
    out(
      'Broker user:     not set; Mosquitto started as root switches to the mosquitto user, which must be able to read the broker key.',
    );
  } else if (owner === 'root') {
    out(
      'Broker user:     root, the owner of the broker key (Mosquitto warns that it runs as root). To run it as the mosquitto user, give that user the folder, the broker key and the password file (chown), then run bulwark-certs config again.',
    );
  } else {
    out(`Broker user:     ${owner}, the owner of the broker key`);
  }
}

/** Runs one CLI command; returns the process exit code. Lines for the user go to `out`, problems to `err`. */
export async function runCertsCli(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? 'help';
  if (values.help || command === 'help') {
    out(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'init': {
        const days = number('days', values.days);
        const port = number('port', values.port);
        const servicePort = number('service-port', values['service-port']);
        const set = await createCertificates({
          dir: required('dir', values.dir),
          serverHosts: values.host ?? ['localhost', '127.0.0.1'],
          devices: values.device ?? [],
          services: values.service ?? [],
          ...(values['ca-name'] ? { caName: values['ca-name'] } : {}),
          ...(days !== undefined ? { validityDays: days } : {}),
          ...(port !== undefined ? { port } : {}),
          ...(servicePort !== undefined ? { servicePort } : {}),
          ...(values.bind ? { bindAddress: values.bind } : {}),
          overwrite: values.force === true,
        });
        out(`CA:              ${set.caFile}`);
        out(`Broker config:   ${set.mosquittoConfFile}`);
        for (const device of Object.values(set.devices))
          out(`Device ${device.deviceId}: ${device.certFile}`);
        for (const service of Object.values(set.services))
          out(`Service ${service.username}: password in ${service.passwordFile}`);
        brokerUserLines(set.mosquittoConfFile, out);
        out(`Start the broker: mosquitto -c ${set.mosquittoConfFile}`);
        return 0;
      }
      case 'add-device': {
        const days = number('days', values.days);
        const device = await addDevice({
          dir: required('dir', values.dir),
          deviceId: only('device', values.device),
          ...(days !== undefined ? { validityDays: days } : {}),
          revokePrevious: values['revoke-previous'] === true,
        });
        out(
          `Device ${device.deviceId}: ${device.certFile} (serial ${device.serialNumber}, valid until ${device.notAfter.toISOString()})`,
        );
        return 0;
      }
      case 'revoke': {
        const result = await revokeDevice({
          dir: required('dir', values.dir),
          deviceId: only('device', values.device),
          ...(values.serial ? { serialNumber: values.serial } : {}),
        });
        out(
          `Revoked ${result.revoked.length} certificate(s). CRL: ${result.crlFile}. Restart the broker to load it.`,
        );
        return 0;
      }
      case 'config': {
        const port = number('port', values.port);
        const servicePort = number('service-port', values['service-port']);
        const file = writeMosquittoConfig(required('dir', values.dir), {
          ...(port !== undefined ? { port } : {}),
          ...(servicePort !== undefined ? { servicePort } : {}),
          ...(values.bind ? { bindAddress: values.bind } : {}),
        });
        out(`Broker config: ${file}`);
        brokerUserLines(file, out);
        return 0;
      }
      default:
        err(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof MqttConfigError) {
      err(`${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
