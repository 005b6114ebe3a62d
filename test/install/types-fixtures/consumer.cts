// A CommonJS app that uses every package and pins the types of everything they add to a request.
import https = require('node:https');
import timers = require('node:timers/promises');
import express = require('express');
import dbSafety = require('@bulwark/db-safety');
import errors = require('@bulwark/error-handler');
import mqtt = require('@bulwark/mqtt-tls');
import openapi = require('@bulwark/openapi');
import perimeter = require('@bulwark/perimeter');
import limits = require('@bulwark/rate-limit');
import rbac = require('@bulwark/rbac');
import validators = require('@bulwark/validators');

// `true` only when the two types are identical (`any` or a wider union is not); otherwise the
// compiler's message shows both.
type Same<Actual, Expected> =
  (<T>() => T extends Actual ? 1 : 2) extends <T>() => T extends Expected ? 1 : 2
    ? true
    : { actual: Actual; expected: Expected };

const db = dbSafety.createDb(dbSafety.createPool({ connectionString: 'postgres://localhost/app' }));
const createDevice = validators.validate({
  body: {
    type: 'object',
    properties: { name: { type: 'string', format: 'slug', maxLength: 50 } },
    required: ['name'],
    additionalProperties: false,
  },
});

const app = express();
app.use(
  errors.requestContext(),
  perimeter.secureHeaders(),
  perimeter.requestTimeout({ ms: 5_000 }),
);
app.use(rbac.staticApiKeys({ keys: [] }));

app.post(
  '/devices',
  validators.jsonBody(),
  rbac.requirePermission('devices:write'),
  limits.rateLimit({ name: 'writes', limit: 5, windowMs: 60_000 }),
  createDevice,
  errors.asyncHandler(async (req, res) => {
    const id: Same<typeof req.id, string | undefined> = true;
    const auth: Same<typeof req.auth, rbac.AuthContext | undefined> = true;
    const valid: Same<typeof req.valid, validators.ValidRequestData | undefined> = true;
    const page: Same<typeof req.page, validators.Page | undefined> = true;
    const signal: Same<typeof req.signal, AbortSignal> = true;
    const body: Same<ReturnType<typeof createDevice.valid>['body'], { name: string }> = true;
    // @ts-expect-error req.signal is read-only
    req.signal = new AbortController().signal;

    await timers.setTimeout(1, undefined, { signal: req.signal });
    const { name } = createDevice.valid(req).body;
    const insert = dbSafety.sql`INSERT INTO device (name) VALUES (${name}) RETURNING id`;
    const row = await db.one(insert, { signal: req.signal });
    const checks = [id, auth, valid, page, signal, body];
    res.status(201).json({ row, topic: mqtt.deviceTopic(name), checks });
  }),
);

// Route parameters reach an async handler through the request type it names (as the README says).
app.get(
  '/devices/:id',
  errors.asyncHandler<express.Request<{ id: string }>>(async (req, res) => {
    const param: Same<typeof req.params.id, string> = true;
    const device = await db.maybeOne(
      dbSafety.sql`SELECT * FROM device WHERE id = ${req.params.id}`,
    );
    res.json({ device, param });
  }),
);

app.get(
  '/status',
  openapi.describeRoute({
    summary: 'Service status',
    responses: { 200: { description: 'Up', schema: { type: 'object' } } },
  }),
  (_req, res) => res.json({ ok: true }),
);

app.use(errors.notFound(), errors.errorHandler());
const document: openapi.OpenApiDocument = openapi.openApiDocument(app, {
  info: { title: 'api', version: '1' },
});
const tls = https.createServer({ ...perimeter.requestClasses(app) }, app);
export = { app, document, tls };
