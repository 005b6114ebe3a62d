// Places request and response schemas in the document: shared `$id` schemas become components,
// and every `$ref` is rewritten to point where its target now lives.
import type { JsonSchema } from './contract.js';
import { describe, isPlainObject, OpenApiConfigError } from './errors.js';

// Keywords whose values are data, not schemas: a `$ref` inside them is not a reference.
const DATA_KEYWORDS = new Set([
  'const',
  'enum',
  'default',
  'examples',
  'example',
  'dependentRequired',
  'required',
]);

const COMPONENT_NAME = /[^A-Za-z0-9._-]+/g;

function containsLocalRef(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(containsLocalRef);
  if (!isPlainObject(node)) return false;
  for (const [key, value] of Object.entries(node)) {
    if (DATA_KEYWORDS.has(key)) continue;
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#')) return true;
    if (containsLocalRef(value)) return true;
  }
  return false;
}

/** `components.schemas`, filled as the document is built. */
export class SchemaRegistry {
  readonly components: Record<string, JsonSchema> = {};
  private readonly byId = new Map<string, { name: string; text: string }>();
  private readonly lifted = new WeakMap<object, string>();

  /** A name not yet used under `components.schemas`. */
  private unique(hint: string): string {
    const base = hint.replace(COMPONENT_NAME, '_').replace(/^_+|_+$/g, '') || 'Schema';
    let name = base;
    for (let n = 2; Object.hasOwn(this.components, name); n++) name = `${base}${n}`;
    return name;
  }

  /** Registers schemas with an `$id` (`validate(..., { schemas })`) as components. */
  addShared(schemas: readonly JsonSchema[] | undefined): void {
    const added: [string, Record<string, unknown>][] = [];
    for (const schema of schemas ?? []) {
      if (!isPlainObject(schema) || typeof schema.$id !== 'string') continue;
      const id = schema.$id.replace(/#$/, '');
      const text = JSON.stringify(schema);
      const known = this.byId.get(id);
      if (known) {
        if (known.text !== text) {
          throw new OpenApiConfigError(
            'ERR_BULWARK_OPENAPI_SCHEMA_CONFLICT',
            `openApiDocument: two validate() middlewares share a schema with $id ${describe(id)} that differs between them, so a $ref to it would mean two things. Give one of them another $id, or pass the same schema to both.`,
          );
        }
        continue;
      }
      const name = this.unique(id.split(/[/:]/).filter(Boolean).pop() ?? 'Schema');
      this.byId.set(id, { name, text });
      this.components[name] = true;
      added.push([name, schema]);
    }
    // Rewritten once every name is known, so shared schemas may refer to each other.
    for (const [name, schema] of added) {
      this.components[name] = this.rewrite(schema, `#/components/schemas/${name}`);
    }
  }

  /**
   * The schema to put in the document. One with local references (`#/$defs/...`) becomes a
   * component, since `#` would otherwise mean the document; the result is a `$ref` to it.
   */
  place(schema: JsonSchema, hint: string): JsonSchema {
    if (!isPlainObject(schema)) return schema;
    if (!containsLocalRef(schema)) return this.rewrite(schema);
    return { $ref: this.lift(schema, hint) };
  }

  /**
   * A subschema (one property of a query schema) of `parent`: local references in it point into
   * `parent`, which becomes a component when it has any.
   */
  placePart(part: JsonSchema, parent: JsonSchema, hint: string): JsonSchema {
    if (!isPlainObject(parent) || !containsLocalRef(parent)) return this.rewrite(part);
    return this.rewrite(part, this.lift(parent, hint));
  }

  private lift(schema: Record<string, unknown>, hint: string): string {
    const known = this.lifted.get(schema);
    if (known) return known;
    const name = this.unique(hint);
    const ref = `#/components/schemas/${name}`;
    this.lifted.set(schema, ref);
    this.components[name] = this.rewrite(schema, ref);
    return ref;
  }

  /**
   * A deep copy with `$id` dropped and every `$ref` rewritten: `#...` to `local...`, and an `$id`
   * of a shared schema (with an optional `#/pointer`) to its component.
   */
  rewrite(schema: JsonSchema, local?: string): JsonSchema {
    const walk = (node: unknown, top: boolean): unknown => {
      if (Array.isArray(node)) return node.map((item) => walk(item, false));
      if (!isPlainObject(node)) return node;
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) {
        if (key === '$id' && top) continue;
        if (DATA_KEYWORDS.has(key)) {
          out[key] = structuredClone(value);
        } else if (key === '$ref' && typeof value === 'string') {
          out[key] = this.target(value, local);
        } else if (key === 'properties' || key === 'patternProperties' || key === '$defs') {
          // Keys here are names, not keywords: a property called `$ref` holds a schema.
          out[key] = isPlainObject(value)
            ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, false)]))
            : value;
        } else {
          out[key] = walk(value, false);
        }
      }
      return out;
    };
    return walk(schema, true) as JsonSchema;
  }

  private target(ref: string, local: string | undefined): string {
    if (ref.startsWith('#')) return local === undefined ? ref : `${local}${ref.slice(1)}`;
    const hash = ref.indexOf('#');
    const id = hash === -1 ? ref : ref.slice(0, hash);
    const known = this.byId.get(id);
    if (!known) return ref;
    return `#/components/schemas/${known.name}${hash === -1 ? '' : ref.slice(hash + 1)}`;
  }
}
