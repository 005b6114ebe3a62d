// `pnpm --filter iot-app start`: loads the configuration, prints the banner, serves until SIGTERM/SIGINT.
import { installProcessHandlers } from '@bulwark/error-handler';
import { gracefulShutdown } from '@bulwark/perimeter';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig();
  process.stdout.write(
    'iot-app: starting (the first start creates the embedded database and certificates)\n',
  );
  const iot = await createApp(config);
  installProcessHandlers(iot.logger);
  process.stdout.write(`${iot.banner}\n`);
  const { url, httpsUrl, servers } = await iot.start().catch(async (err: unknown) => {
    await iot.closeServices();
    throw err;
  });
  const [main, ...others] = servers;
  if (main) {
    const shutdown = gracefulShutdown(main, { logger: iot.logger });
    for (const [i, server] of others.entries()) {
      shutdown.register(
        `server-${i + 1}`,
        () => new Promise<void>((resolve) => server.close(() => resolve())),
      );
    }
    shutdown.register('services', () => iot.closeServices());
  }
  process.stdout.write(
    [
      `iot-app listening on ${url}${httpsUrl ? ` (HTTPS ${httpsUrl})` : ''}`,
      `  MQTT (mTLS)  ${iot.messaging.url}`,
      `  try          curl ${url}/health`,
      '  token        pnpm --filter iot-app token viewer@acme',
      `  docs         ${url}/docs`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(
    `iot-app did not start: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`,
  );
  process.exit(1);
});
