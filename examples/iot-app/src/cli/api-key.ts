// `pnpm --filter iot-app api-key <admin user> [name] [scope...]`: issues an API key through the running app.
import { loadConfig } from '../config.js';
import { DEMO_USERS } from '../demo-data.js';
import { signToken, tokenKey } from '../tokens.js';

const [subject, name = 'cli', ...scopes] = process.argv.slice(2);
const user = DEMO_USERS.find((u) => u.subject === subject && u.tenantId !== null);
if (!user) {
  process.stderr.write(
    `usage: pnpm --filter iot-app api-key <user> [name] [scope...]\nusers: ${DEMO_USERS.filter(
      (u) => u.tenantId,
    )
      .map((u) => u.subject)
      .join(
        ', ',
      )}\nThe key gets the scopes given (default devices:read telemetry:read), within the user's own permissions.\n`,
  );
  process.exit(2);
}
const config = loadConfig();
if (config.production) {
  process.stderr.write(
    'The api-key command uses development tokens; it refuses NODE_ENV=production.\n',
  );
  process.exit(2);
}
const base = process.env.APP_URL ?? `http://127.0.0.1:${config.port}`;
const token = signToken(tokenKey(config.jwtSecret), {
  subject: user.subject,
  tenantId: user.tenantId,
  ttlSec: 60,
});
const response = await fetch(`${base}/customer/api-keys`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({
    name,
    scopes: scopes.length ? scopes : ['devices:read', 'telemetry:read'],
  }),
}).catch(() => null);
if (!response) {
  process.stderr.write(
    `The app is not answering on ${base}. Start it with pnpm --filter iot-app start (or set APP_URL).\n`,
  );
  process.exit(1);
}
const body = (await response.json()) as {
  key?: string;
  id?: string;
  scopes?: string[];
  detail?: string;
  code?: string;
};
if (!response.ok || !body.key) {
  process.stderr.write(`refused: ${response.status} ${body.code ?? ''} ${body.detail ?? ''}\n`);
  process.exit(1);
}
process.stdout.write(
  `API key ${body.id} for ${user.tenantId} (${body.scopes?.join(', ')}), shown once:\n${body.key}\n`,
);
