// Placeholder start for the example app: serves /health and says what is coming.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const body = JSON.stringify({
  status: 'ok',
  app: 'iot-app',
  message:
    'The IoT example app is not built yet. The @bulwark/* packages are in packages/; see README.md.',
});
createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(req.url === '/health' ? body : '{"status":404}');
}).listen(port, '127.0.0.1', () => {
  process.stdout.write(`iot-app placeholder listening on http://127.0.0.1:${port}/health\n`);
});
