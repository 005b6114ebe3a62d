// Listening on a configured port: a port that cannot be had is named by its variable, with the fix.
import type { AddressInfo, Server } from 'node:net';
import { AppConfigError } from './config.js';

/** The environment variables that choose a port the app listens on. */
export type PortVariable = 'PORT' | 'HTTPS_PORT' | 'MQTT_PORT';

function listenError(
  err: NodeJS.ErrnoException,
  variable: PortVariable,
  port: number,
  host: string,
): Error {
  const other =
    variable === 'MQTT_PORT'
      ? 'another iot-app or an MQTT broker such as Mosquitto'
      : 'another iot-app or another server';
  if (err.code === 'EADDRINUSE') {
    return new AppConfigError(
      'ERR_IOT_APP_PORT_IN_USE',
      `${variable}: port ${port} on ${host} is already in use (${other} listens there). Stop it, set ${variable} to a free port, or set ${variable}=0 to take any free port.`,
    );
  }
  if (err.code === 'EACCES') {
    return new AppConfigError(
      'ERR_IOT_APP_PORT_DENIED',
      `${variable}: this user may not listen on port ${port} on ${host} (ports below 1024 need privileges). Set ${variable} to a port from 1024 up, or ${variable}=0 to take any free port.`,
    );
  }
  if (err.code === 'EADDRNOTAVAIL') {
    return new AppConfigError(
      'ERR_IOT_APP_HOST_UNAVAILABLE',
      `HOST: ${JSON.stringify(host)} is not an address of this machine, so nothing can listen on it (${variable}=${port}). Set HOST to one of its addresses, such as 127.0.0.1.`,
    );
  }
  return err;
}

/**
 * Listens on `port` (`0`: any free port) and resolves with the port taken.
 *
 * @throws {AppConfigError} `ERR_IOT_APP_PORT_IN_USE`, `ERR_IOT_APP_PORT_DENIED` or
 *   `ERR_IOT_APP_HOST_UNAVAILABLE`, naming `variable` and the fix.
 */
export function listenOn(
  server: Server,
  { port, host, variable }: { port: number; host: string; variable: PortVariable },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(err, variable, port, host));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
