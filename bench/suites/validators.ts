// Micro-benchmark: @bulwark/validators `validate` vs express-validator vs celebrate, same schema and inputs.
import { formats, validate } from '@bulwark/validators';
import { celebrate, Joi, Segments } from 'celebrate';
import type { NextFunction, Request, Response } from 'express';
import { checkExact, checkSchema, validationResult } from 'express-validator';
import { Bench } from 'tinybench';
import type { BenchRow, BenchSuite, BenchTarget } from '../types.js';

// One device registration body: a slug name, an email (lower-cased), an integer, a bounded
// array of short strings, nothing else. Half the inputs are valid, half break one rule.
const inputs: unknown[] = [
  { name: 'sensor_01', owner: 'Ada@Example.com', floor: 3, tags: ['lab', 'north'] },
  { name: 'gateway_main', owner: 'ops@example.org', floor: 0, tags: [] },
  { name: 'x', owner: 'ada@example.com', floor: 3, tags: ['lab'] },
  { name: 'sensor_02', owner: 'not-an-email', floor: 200, tags: ['a'] },
];

const ours = validate({
  body: {
    type: 'object',
    properties: {
      name: formats.slug,
      owner: formats.email,
      floor: { type: 'integer', minimum: -5, maximum: 150 },
      tags: { type: 'array', items: { type: 'string', maxLength: 20 }, maxItems: 10 },
    },
    required: ['name', 'owner', 'floor'],
    additionalProperties: false,
  },
});

const expressValidator = [
  ...checkSchema(
    {
      name: { isString: true, matches: { options: /^[a-zA-Z0-9_]{3,50}$/ } },
      owner: { isEmail: true, normalizeEmail: true, isLength: { options: { max: 254 } } },
      floor: { isInt: { options: { min: -5, max: 150 } } },
      tags: { optional: true, isArray: { options: { max: 10 } } },
      'tags.*': { isString: true, isLength: { options: { max: 20 } } },
    },
    ['body'],
  ),
];
const expressValidatorExact = checkExact(expressValidator);

const celebrateMiddleware = celebrate({
  [Segments.BODY]: Joi.object({
    name: Joi.string()
      .pattern(/^[a-zA-Z0-9_]{3,50}$/)
      .required(),
    owner: Joi.string().email().max(254).lowercase().required(),
    floor: Joi.number().integer().min(-5).max(150).required(),
    tags: Joi.array().items(Joi.string().max(20)).max(10),
  }),
});

const res = {} as Response;
let index = 0;
function nextRequest(): Request {
  const body = structuredClone(inputs[index++ % inputs.length]);
  return {
    body,
    query: {},
    params: {},
    headers: {},
    cookies: {},
    method: 'POST',
  } as unknown as Request;
}

function runOurs(): number {
  let failed = 0;
  ours(nextRequest(), res, ((err?: unknown) => {
    if (err) failed++;
  }) as NextFunction);
  return failed;
}

async function runExpressValidator(): Promise<boolean> {
  const req = nextRequest();
  for (const chain of expressValidator) await chain.run(req);
  await expressValidatorExact.run(req);
  return validationResult(req).isEmpty();
}

function runCelebrate(): Promise<boolean> {
  return new Promise((resolve) => {
    celebrateMiddleware(nextRequest(), res, ((err?: unknown) => resolve(!err)) as NextFunction);
  });
}

export const suite: BenchSuite = {
  name: 'validators',
  async run() {
    // The three must agree on which inputs pass before their speed means anything.
    const verdicts = inputs.map(() => ({ ours: false, ev: false, celebrate: false }));
    for (const [i, verdict] of verdicts.entries()) {
      index = i;
      verdict.ours = runOurs() === 0;
      index = i;
      verdict.ev = await runExpressValidator();
      index = i;
      verdict.celebrate = await runCelebrate();
    }
    const agree = verdicts.every((v) => v.ours === v.ev && v.ours === v.celebrate);

    const bench = new Bench({ time: 3000, warmupTime: 500 });
    bench
      .add('express-validator', async () => {
        await runExpressValidator();
      })
      .add('celebrate (Joi)', async () => {
        await runCelebrate();
      })
      .add('bulwark validate', () => {
        runOurs();
      });
    await bench.run();

    const rows: BenchRow[] = bench.tasks.map((task) => {
      const result = task.result as unknown as {
        throughput: { mean: number };
        latency: { p50?: number; p99?: number };
      };
      return {
        name: task.name,
        opsPerSec: result.throughput.mean,
        ...(result.latency.p50 === undefined ? {} : { p50Ms: result.latency.p50 }),
        ...(result.latency.p99 === undefined ? {} : { p99Ms: result.latency.p99 }),
      };
    });
    const rate = (name: string) => rows.find((row) => row.name === name)?.opsPerSec ?? Number.NaN;
    const ratios = {
      'bulwark validate / express-validator': rate('bulwark validate') / rate('express-validator'),
      'bulwark validate / celebrate (Joi)': rate('bulwark validate') / rate('celebrate (Joi)'),
      'celebrate (Joi) / express-validator': rate('celebrate (Joi)') / rate('express-validator'),
    };
    const targets: BenchTarget[] = [
      {
        name: 'bulwark validate / express-validator',
        ratio: ratios['bulwark validate / express-validator'],
        min: 5,
        met: agree && ratios['bulwark validate / express-validator'] >= 5,
      },
    ];
    return {
      suite: 'validators',
      baseline: 'express-validator',
      rows,
      ratios,
      targets,
      notes: [
        'Each call validates one of four request bodies in turn (two valid, two invalid), calling the middleware directly without HTTP.',
        'Schema: slug name, lower-cased email, bounded integer, up to 10 strings of up to 20 characters, no other properties.',
        agree
          ? 'All three agree on which inputs pass.'
          : `The three disagree on which inputs pass: ${JSON.stringify(verdicts)}`,
      ],
    };
  },
};
