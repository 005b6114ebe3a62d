// `pnpm --filter iot-app start`: loads the configuration, prints the banner, serves until SIGTERM/SIGINT.
import { installProcessHandlers } from '@bulwark/error-handler';
import { gracefulShutdown } from '@bulwark/perimeter';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { listeningMessage, startingMessage } from './start-messages.js';

async function main(): Promise<void> {
  const config = loadConfig();
  process.stdout.write(`${startingMessage(config)}\n`);
  const iot = await createApp(config);
  installProcessHandlers(iot.logger);
  process.stdout.write(`${iot.banner}\n`);
  const started = await iot.start().catch(async (err: unknown) => {
    await iot.closeServices();
    throw err;
  });
  const { servers } = started;
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
  process.stdout.write(listeningMessage(iot, started));
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(
    `iot-app did not start: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`,
  );
  process.exit(1);
});
