// Runs the MDN HTTP Observatory scanner against one loopback host and prints the result as JSON.
// It runs in its own process so NODE_EXTRA_CA_CERTS (the test CA) is read before any TLS
// connection is made, and it refuses and reports any connection to a non-loopback address.
import net from 'node:net';

const target = process.env.OBSERVATORY_TARGET;
if (!target) {
  process.stderr.write('OBSERVATORY_TARGET is not set\n');
  process.exit(2);
}

const connections = [];
const refused = [];

function isLoopback(host) {
  return host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '[::1]';
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options =
    typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
  if (options.path == null) {
    const host = String(options.host ?? 'localhost');
    if (!isLoopback(host)) {
      refused.push(host);
      this.destroy(new Error('the scan may only reach loopback addresses'));
      return this;
    }
    this.once('connect', () => {
      connections.push({ host, port: options.port, remoteAddress: this.remoteAddress });
    });
  }
  return originalConnect.apply(this, args);
};

const { scan } = await import('@mdn/mdn-http-observatory');
try {
  const result = await scan(target);
  const tests = Object.fromEntries(
    Object.entries(result.tests).map(([name, t]) => [
      name,
      { pass: t.pass, result: t.result, scoreModifier: t.scoreModifier },
    ]),
  );
  process.stdout.write(
    JSON.stringify({
      grade: result.scan.grade,
      score: result.scan.score,
      testsPassed: result.scan.testsPassed,
      testsQuantity: result.scan.testsQuantity,
      tests,
      connections,
      refused,
    }),
  );
} catch (err) {
  process.stdout.write(
    JSON.stringify({ error: String(err?.message ?? err), connections, refused }),
  );
  process.exitCode = 1;
}
