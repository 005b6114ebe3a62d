// Every input field of the customer API, read from the app's route table, with valid values around it.
import { randomUUID } from 'node:crypto';

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema fragments from the route table.
type Schema = any;

export interface RouteLike {
  method: string;
  path: string;
  schemas: { params?: unknown; query?: unknown; body?: unknown };
}

/** Where a field sits and how to reach it. */
export interface Field {
  route: RouteLike;
  location: 'params' | 'query' | 'body';
  /** Property name; for array items the array's name. */
  name: string;
  /** The value is one item of a string array (`tags`, `scopes`). */
  item: boolean;
  schema: Schema;
}

const properties = (schema: Schema): Record<string, Schema> =>
  (schema && typeof schema === 'object' && schema.properties) || {};

/** Every string (or string-array) field in the params, query and body of each route. */
export function stringFields(routes: RouteLike[]): Field[] {
  const out: Field[] = [];
  for (const route of routes) {
    for (const location of ['params', 'query', 'body'] as const) {
      for (const [name, schema] of Object.entries(properties(route.schemas[location]))) {
        if (schema.type === 'string') out.push({ route, location, name, item: false, schema });
        if (schema.type === 'array' && schema.items?.type === 'string') {
          out.push({ route, location, name, item: true, schema: schema.items });
        }
      }
    }
  }
  return out;
}

let serial = 0;

/** A value that passes the field's schema, so that only the attacked field is wrong. */
export function sampleValue(
  name: string,
  schema: Schema,
  method: string,
  location: string,
): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (schema.type) {
    case 'string':
      switch (schema.format) {
        case 'device-id':
          // A new id where a device is created, an existing one where it is looked up.
          return method === 'post' && location === 'body' && name === 'id'
            ? `sec-${process.pid}-${++serial}`
            : 'acme-sensor-1';
        case 'uuid':
          return randomUUID();
        case 'timestamp':
          return new Date(Date.now() + (/ends|to/i.test(name) ? 3_600_000 : -60_000)).toISOString();
        case 'slug':
          return 'lab';
        case 'metric-key':
          return 'temperature';
        default:
          break;
      }
      if (schema.pattern?.startsWith('^[A-Z')) return 'CREATE';
      if (schema.pattern?.startsWith('^[a-z_]')) return 'device';
      if (schema.pattern) return 'devices:read';
      if (name === 'target') return 'ops@example.com';
      return 'probe value';
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, 1);
    case 'boolean':
      return true;
    case 'array':
      return [sampleValue(name, schema.items ?? {}, method, location)];
    case 'object':
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        return { temperature: 21.5 };
      }
      return {};
    default:
      return 'probe value';
  }
}

export interface BuiltRequest {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

/** A request to the field's route with `value` in that field and valid values elsewhere. */
export function requestWith(field: Field, value: string, prefix = '/customer'): BuiltRequest {
  const { route, location, name } = field;
  const put = (target: string) => (target === name ? (field.item ? [value] : value) : undefined);
  let path = route.path;
  for (const [param, schema] of Object.entries(properties(route.schemas.params))) {
    const raw =
      location === 'params' && param === name
        ? value
        : String(sampleValue(param, schema, route.method, 'params'));
    path = path.replace(`:${param}`, encodeURIComponent(raw));
  }
  const query = new URLSearchParams();
  if (location === 'query') query.set(name, value);
  let body: Record<string, unknown> | undefined;
  const bodySchema = route.schemas.body as Schema;
  if (bodySchema) {
    body = {};
    const required: string[] = bodySchema.required ?? [];
    for (const [prop, schema] of Object.entries(properties(bodySchema))) {
      const attacked = location === 'body' ? put(prop) : undefined;
      if (attacked !== undefined) body[prop] = attacked;
      else if (required.includes(prop)) {
        body[prop] = sampleValue(prop, schema, route.method, 'body');
      }
    }
    // Update bodies need at least `minProperties`; fill them from the first properties.
    for (const [prop, schema] of Object.entries(properties(bodySchema))) {
      if (Object.keys(body).length >= (bodySchema.minProperties ?? 0)) break;
      if (!(prop in body)) body[prop] = sampleValue(prop, schema, route.method, 'body');
    }
  }
  const search = query.toString();
  return {
    method: route.method.toUpperCase(),
    path: `${prefix}${path}${search ? `?${search}` : ''}`,
    ...(body ? { body } : {}),
  };
}

/** Picks `count` items spread evenly over the list, the same ones on every run. */
export function spread<T>(list: T[], count: number, offset = 0): T[] {
  if (list.length <= count) return list;
  const step = list.length / count;
  return Array.from(
    { length: count },
    (_, i) => list[Math.floor(i * step + offset) % list.length]!,
  );
}
