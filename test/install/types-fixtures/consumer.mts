// An ESM app that uses every package and pins the types of everything they add to a request.
import { setTimeout as sleep } from 'node:timers/promises';
import { createDb, createPool, sql } from '@bulwark/db-safety';
import { asyncHandler, errorHandler, notFound, requestContext } from '@bulwark/error-handler';
import { connectSecure, deviceTopic, publishSafe } from '@bulwark/mqtt-tls';
import { describeRoute, type OpenApiDocument, openApiDocument } from '@bulwark/openapi';
import { createAppServer, requestTimeout, secureHeaders, trustedHosts } from '@bulwark/perimeter';
import { createRateLimits } from '@bulwark/rate-limit';
import { type AuthContext, authenticate, requirePermission } from '@bulwark/rbac';
import { type Page, paginate, type ValidRequestData, validate } from '@bulwark/validators';
import express, { type Request } from 'express';

// `true` only when the two types are identical (`any` or a wider union is not); otherwise the
// compiler's message shows both.
type Same<Actual, Expected> =
  (<T>() => T extends Actual ? 1 : 2) extends <T>() => T extends Expected ? 1 : 2
    ? true
    : { actual: Actual; expected: Expected };

const db = createDb(createPool({ connectionString: 'postgres://localhost/app' }));
const limits = createRateLimits();
const listDevices = validate({
  query: {
    type: 'object',
    properties: { q: { type: 'string', maxLength: 10 } },
    additionalProperties: false,
  },
});

const app = express();
app.use(
  requestContext(),
  secureHeaders(),
  trustedHosts(['api.example.com']),
  requestTimeout(5_000),
);
app.use(
  authenticate({
    jwt: { algorithms: ['HS256'], secret: 'k'.repeat(32), issuer: 'i', audience: 'a' },
  }),
  limits.global(),
);

app.get(
  '/devices',
  requirePermission('devices:read'),
  paginate(),
  listDevices,
  async (req, res) => {
    const id: Same<typeof req.id, string | undefined> = true;
    const auth: Same<typeof req.auth, AuthContext | undefined> = true;
    const valid: Same<typeof req.valid, ValidRequestData | undefined> = true;
    const page: Same<typeof req.page, Page | undefined> = true;
    const signal: Same<typeof req.signal, AbortSignal> = true;
    const query: Same<ReturnType<typeof listDevices.valid>['query'], { q?: string }> = true;
    // @ts-expect-error req.signal is read-only
    req.signal = new AbortController().signal;

    await sleep(1, undefined, { signal: req.signal });
    const rows = await db.many(sql`SELECT id FROM device LIMIT ${req.page?.limit ?? 50}`, {
      signal: AbortSignal.any([req.signal, AbortSignal.timeout(1_000)]),
    });
    const checks = [id, auth, valid, page, signal, query];
    res.json({ rows, subject: req.auth?.subject, checks });
  },
);

app.get(
  '/devices/:id',
  asyncHandler<Request<{ id: string }>>(async (req, res) => {
    const param: Same<typeof req.params.id, string> = true;
    const device = await db.maybeOne(sql`SELECT * FROM device WHERE id = ${req.params.id}`, {
      signal: req.signal,
    });
    res.json({ device, param, trace: req.id });
  }),
);

app.post(
  '/devices/:id/readings',
  requirePermission('devices:write'),
  asyncHandler<Request<{ id: string }>>(async (req, res, next) => {
    const client = await connectSecure({ url: 'mqtts://broker.example.com', caFile: 'ca.pem' });
    await publishSafe(client, deviceTopic(req.params.id, 'telemetry'), JSON.stringify(req.body));
    if (req.signal.aborted) return next(req.signal.reason);
    res.status(202).end();
  }),
);

app.get(
  '/status',
  describeRoute({
    summary: 'Service status',
    responses: { 200: { description: 'Up', schema: { type: 'object' } } },
  }),
  (_req, res) => res.json({ ok: true }),
);

app.use(notFound(), errorHandler());

const document: OpenApiDocument = openApiDocument(app, { info: { title: 'api', version: '1' } });

const server = createAppServer(app, { keepAliveTimeout: 5_000 });

export { app, document, server };
