// Development certificates: a private CA, the broker's certificate, one per device and one for the service.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDevice, createCertificates, mosquittoAcl, mosquittoConfig } from '@bulwark/mqtt-tls';

/**
 * Topic filters the service identity may use; the same rule goes to aedes and to Mosquitto. It
 * reads telemetry and writes the alerts it raises, nothing else: it cannot publish telemetry as a
 * device, nor commands.
 */
export const SERVICE_RIGHTS = {
  read: ['devices/+/telemetry'],
  write: ['devices/+/alerts'],
} as const;

/** The files of the development PKI. */
export interface Pki {
  dir: string;
  caFile: string;
  crlFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Device ACL plus the service's rights, for Mosquitto. */
  aclFile: string;
  /** A Mosquitto config using `aclFile`, written for the broker's port (see `writeBrokerConfig`). */
  mosquittoConfFile: string;
  /** Certificate and key per identity (devices and the service). */
  identity(id: string): { certFile: string; keyFile: string };
}

/** The ACL text: each device under `devices/<CN>/`, plus the service's read and write filters. */
export function aclText(serviceId: string): string {
  return [
    mosquittoAcl().trimEnd(),
    '',
    `# The ingest service (certificate CN ${serviceId}) reads telemetry and publishes alerts.`,
    `user ${serviceId}`,
    ...SERVICE_RIGHTS.read.map((filter) => `topic read ${filter}`),
    ...SERVICE_RIGHTS.write.map((filter) => `topic write ${filter}`),
    '',
  ].join('\n');
}

/**
 * Makes the PKI in `<dataDir>/pki` on first use and issues certificates for identities that have
 * none yet: the service's, and devices' `<tenant>.<deviceId>` (see `deviceIdentity`). Keys are
 * 0600 in 0700 folders (done by `@bulwark/mqtt-tls`). Writes the ACL, and the Mosquitto config
 * for `port` (default 8883); with `port: 0` the port is not known yet, and `writeBrokerConfig`
 * writes the config once the broker has taken one.
 */
export async function ensurePki(
  dataDir: string,
  identities: string[],
  { serviceId, port = 8883 }: { serviceId: string; port?: number },
): Promise<Pki> {
  const dir = join(dataDir, 'pki');
  const wanted = [...new Set([serviceId, ...identities])];
  if (!existsSync(join(dir, 'registry.json'))) {
    await createCertificates({ dir, devices: wanted, serverHosts: ['localhost', '127.0.0.1'] });
  } else {
    for (const id of wanted) {
      if (!existsSync(join(dir, 'devices', id, 'device.crt')))
        await addDevice({ dir, deviceId: id });
    }
  }
  const pki: Pki = {
    dir,
    caFile: join(dir, 'ca.crt'),
    crlFile: join(dir, 'ca.crl'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    aclFile: join(dir, 'iot-app.acl'),
    mosquittoConfFile: join(dir, 'iot-app-mosquitto.conf'),
    identity: (id) => ({
      certFile: join(dir, 'devices', id, 'device.crt'),
      keyFile: join(dir, 'devices', id, 'device.key'),
    }),
  };
  writeFileSync(pki.aclFile, aclText(serviceId), { mode: 0o644 });
  if (port !== 0) writeBrokerConfig(pki, port);
  return pki;
}

/** Writes `mosquittoConfFile` for a broker on `port`. */
export function writeBrokerConfig(pki: Pki, port: number): void {
  writeFileSync(pki.mosquittoConfFile, brokerConfig(pki, port), { mode: 0o644 });
}

/** The Mosquitto config for the PKI: mTLS listener on `port`, the app's ACL, the CRL. */
export function brokerConfig(pki: Pki, port: number, bindAddress = '127.0.0.1'): string {
  return mosquittoConfig(
    {
      caFile: pki.caFile,
      serverCertFile: pki.serverCertFile,
      serverKeyFile: pki.serverKeyFile,
      aclFile: pki.aclFile,
      crlFile: pki.crlFile,
    },
    { port, bindAddress },
  );
}
