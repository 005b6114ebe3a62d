// Runs autocannon in its own process, so the load generator does not share a CPU core or a heap
// with the apps being measured. Options arrive as JSON in argv[2]; the result leaves as JSON.
import { createRequire } from 'node:module';

const autocannon = createRequire(import.meta.url)('autocannon');
const { clientKeys, ...options } = JSON.parse(process.argv[2]);
let next = 0;
const result = await autocannon({
  ...options,
  // Spreads requests over `clientKeys` distinct X-Client values when asked to.
  ...(clientKeys
    ? {
        requests: [
          {
            setupRequest: (request) => {
              request.headers = { ...request.headers, 'x-client': `client-${next++ % clientKeys}` };
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
