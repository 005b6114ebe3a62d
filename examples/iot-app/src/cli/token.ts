// `pnpm --silent --filter iot-app token <demo user>`: prints a development access token for a demo user, and nothing else on stdout.
import { loadConfig } from '../config.js';
import { DEMO_USERS } from '../demo-data.js';
import { signToken, tokenKey } from '../tokens.js';

const subject = process.argv[2];
const user = DEMO_USERS.find((u) => u.subject === subject);
if (!user) {
  process.stderr.write(
    `usage: pnpm --silent --filter iot-app token <user>\nusers: ${DEMO_USERS.map((u) => `${u.subject} (${u.role})`).join(', ')}\n`,
  );
  process.exit(2);
}
const config = loadConfig();
if (config.production) {
  process.stderr.write(
    'The token command signs development tokens only; it refuses NODE_ENV=production.\n',
  );
  process.exit(2);
}
process.stdout.write(
  `${signToken(tokenKey(config.jwtSecret), { subject: user.subject, tenantId: user.tenantId, ttlSec: config.tokenTtlSec })}\n`,
);
