// Runs autocannon in its own process, so the load generator does not share a CPU core or a heap
// with the apps being measured. Options arrive as JSON in argv[2]; the result leaves as JSON.
import { createSecretKey } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const { clients, ...options } = JSON.parse(process.argv[2]);

/**
 * With `clients`, request n comes from client n % count: its own address in X-Forwarded-For
 * (10.x.y.z) and its own HS256 token for subject `user-<i>`, signed here with the given secret.
 */
function clientHeaders({ count, token }) {
  const jsonwebtoken = require('jsonwebtoken');
  const secret = createSecretKey(Buffer.from(token.secretHex, 'hex'));
  const all = [];
  for (let i = 0; i < count; i++) {
    const signed = jsonwebtoken.sign(token.claims, secret, {
      algorithm: 'HS256',
      subject: `user-${i}`,
      issuer: token.issuer,
      audience: token.audience,
      expiresIn: 3600,
    });
    all.push({
      'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      authorization: `Bearer ${signed}`,
    });
  }
  return all;
}

let next = 0;
const perClient = clients ? clientHeaders(clients) : undefined;
const result = await autocannon({
  ...options,
  ...(perClient
    ? {
        requests: [
          {
            setupRequest: (request) => {
              request.headers = { ...request.headers, ...perClient[next++ % perClient.length] };
              return request;
            },
          },
        ],
      }
    : {}),
});
process.stdout.write(
  JSON.stringify({
    requests: { average: result.requests.average, total: result.requests.total },
    latency: { p50: result.latency.p50, p99: result.latency.p99 },
    non2xx: result.non2xx,
    errors: result.errors,
  }),
);
