// Where a running app's MQTT broker listens, kept next to the development PKI for the simulate command.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file in the PKI folder that names the broker of the app running on that folder. */
export function brokerAddressFile(pkiDir: string): string {
  return join(pkiDir, 'broker.json');
}

/**
 * Records the URL devices connect to, with this process's id, so that `simulate` finds a broker
 * whose port was picked at start (`MQTT_PORT=0`). Returns the function that removes the record
 * again, unless another process has written its own since.
 */
export function recordBrokerAddress(pkiDir: string, url: string): () => void {
  const file = brokerAddressFile(pkiDir);
  const record = JSON.stringify({ url, pid: process.pid });
  writeFileSync(file, `${record}\n`, { mode: 0o644 });
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === record) rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  };
}

/** The broker URL a running app recorded in `pkiDir`, or `undefined` when no live process did. */
export function runningBrokerAddress(pkiDir: string): string | undefined {
  const file = brokerAddressFile(pkiDir);
  if (!existsSync(file)) return undefined;
  let record: { url?: unknown; pid?: unknown };
  try {
    record = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const { url, pid } = record;
  if (typeof url !== 'string' || !Number.isInteger(pid)) return undefined;
  return isAlive(pid as number) ? url : undefined;
}

/** Signal 0 only asks whether the process exists: an app that was killed leaves a stale record. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
