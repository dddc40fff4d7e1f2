/**
 * @module
 * Free-form JSON (a message's `payload`) as the contract states it: any JSON value in which no
 * object uses the key `__proto__`, at any depth. The strict JSON scan (src/lib/json-inspect.ts)
 * refuses that key in every body and frame before validation, so the spec must not promise more.
 */
import { type OpenAPIHono, z } from '@hono/zod-openapi';
import { MAX_JSON_DEPTH } from '../lib/json-inspect.ts';

export const JSON_VALUE_COMPONENT = 'JsonValue';
const REF = { $ref: `#/components/schemas/${JSON_VALUE_COMPONENT}` };

/**
 * How many levels of objects and arrays a field's value may hold: the body or frame that holds the
 * field is a level of its own (json-inspect counts from it).
 */
const VALUE_DEPTH = MAX_JSON_DEPTH - 1;

const nested = (levels: number) => ({ $ref: `#/components/schemas/${JSON_VALUE_COMPONENT}/$defs/nested${levels}` });

/**
 * Registers the `JsonValue` component, written as JSON Schema because zod cannot name such a
 * schema for the spec without validating with it too: the value is checked by the one scan of the
 * body (json-inspect), far cheaper than walking a 1 MiB value through a recursive zod union. The
 * depth limit is stated as a chain of definitions, `nested<n>` holding at most n levels (JSON
 * Schema has no keyword for depth), so a generator such as schemathesis never builds a value the
 * API refuses.
 */
export function registerJsonValue(registry: OpenAPIHono['openAPIRegistry']): void {
  const $defs: Record<string, object> = { nested0: { type: ['null', 'boolean', 'number', 'string'] } };
  for (let levels = 1; levels <= VALUE_DEPTH; levels += 1) {
    $defs[`nested${levels}`] = {
      anyOf: [
        nested(0),
        { type: 'array', items: nested(levels - 1) },
        { type: 'object', propertyNames: { not: { const: '__proto__' } }, additionalProperties: nested(levels - 1) },
      ],
    };
  }
  registry.registerComponent('schemas', JSON_VALUE_COMPONENT, {
    description: `Any JSON value in which objects and arrays nest at most ${VALUE_DEPTH} levels (${MAX_JSON_DEPTH} counting the request body or frame that holds it) and no object uses the key \`__proto__\`.`,
    ...nested(VALUE_DEPTH),
    // OpenAPI 3.1 (JSON Schema 2020-12) keyword the library's 3.0-shaped types do not list; emitted as given.
    ...({ $defs } as object),
  });
}

/** A required field holding any JSON value (the component {@link registerJsonValue} registers). */
export function jsonValue(metadata: { description: string; example?: unknown }) {
  return (
    z
      .unknown()
      .refine((value) => value !== undefined, 'Required')
      // OpenAPI 3.1 allows a description beside `$ref`; the library's 3.0-shaped metadata type does not list `$ref`.
      .openapi({ ...metadata, ...(REF as object) })
  );
}
