// What `pnpm --filter iot-app start` prints before and after it listens: only what holds for this configuration.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { IotApp } from './app.js';
import type { AppConfig } from './config.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from './tokens.js';

/** The command that prints a development token and nothing else, so `$(…)` captures the token alone. */
export const TOKEN_COMMAND = 'pnpm --silent --filter iot-app token';

/** The line printed before anything starts: what this start creates, if anything. */
export function startingMessage(config: AppConfig): string {
  if (config.production) {
    return 'iot-app: starting in production (NODE_ENV=production): a failed startup check stops it';
  }
  const creates: string[] = [];
  if (!config.databaseUrl && !existsSync(join(config.dataDir, 'pglite', 'PG_VERSION'))) {
    creates.push(`the embedded database (PGlite) in ${join(config.dataDir, 'pglite')}`);
  }
  if (!existsSync(join(config.dataDir, 'pki', 'registry.json'))) {
    creates.push(`a development CA and certificates in ${join(config.dataDir, 'pki')}`);
  }
  return creates.length === 0
    ? 'iot-app: starting'
    : `iot-app: starting; this first start creates ${creates.join(' and ')}, which takes a little longer`;
}

/** The lines printed once the app listens: where, how to try it, and how to authenticate. */
export function listeningMessage(
  iot: Pick<IotApp, 'config' | 'messaging'>,
  { url, httpsUrl }: { url: string; httpsUrl?: string },
): string {
  const { config } = iot;
  const base = httpsUrl ?? url;
  // trustedHosts() answers 400 to a Host it does not know, such as the bind address 0.0.0.0.
  const host = new URL(base).hostname;
  const health = config.allowedHosts.includes(host)
    ? `curl ${base}/health`
    : `curl -H 'Host: ${config.allowedHosts[0]}' ${base}/health`;
  const lines = [
    `iot-app listening on ${url}${httpsUrl ? ` (HTTPS ${httpsUrl})` : ''}`,
    `  MQTT (mTLS)  ${iot.messaging.url}`,
    `  try          ${health}`,
  ];
  if (config.production) {
    lines.push(
      `  auth         Bearer tokens signed with JWT_SECRET (HS256, issuer ${TOKEN_ISSUER}, audience ${TOKEN_AUDIENCE}), or X-API-Key`,
    );
  } else if (config.seedDemoData) {
    lines.push(`  token        TOKEN=$(${TOKEN_COMMAND} viewer@acme)`);
  }
  if (config.docsEnabled) {
    lines.push(
      `  docs         ${base}/docs${config.production ? ' (from METRICS_ALLOWLIST addresses only)' : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
