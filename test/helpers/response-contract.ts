/**
 * The response contract check every generated-client call in the tests goes through: the status,
 * the content type, the JSON body and the required headers of each response must be what the
 * route definition documents, or the call throws (and the test that made it fails).
 *
 * It checks against the zod route definitions rather than openapi/openapi.json: they are what the
 * spec is emitted from, so they cannot be staler than it, they need no JSON Schema validator in
 * the Workers runtime, and their issues point at the schema a developer edits.
 *
 * Response objects are non-strict z.objects (zod would strip an unknown key silently), so the check
 * also walks the body beside its schema and refuses any key, at any depth, that the schema does not
 * declare: a field the spec does not mention is a contract break a client cannot type, and a
 * likely leak. Objects that declare a catchall (`.loose()`, a record) accept their extra keys.
 */
import { type OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Middleware } from 'openapi-fetch';
import type { AppEnv } from '../../src/context.ts';
import { COMMON_HEADER_COMPONENTS } from '../../src/schemas/responses.ts';
import { differsIn } from '../../src/versions/render.ts';
import { API_VERSION_HEADER, isApiVersion, NEWEST_API_VERSION } from '../../src/versions/versions.ts';

type Documented = RouteConfig['responses'][string];
type Schema = z.core.$ZodType;

/** Thrown for a response the route does not document; its message names the operation. */
export class ResponseContractError extends Error {
  override name = 'ResponseContractError';
}

/** Every route registered on the app, by `METHOD /path/{param}` (the form openapi-fetch's `schemaPath` has). */
export function routeIndex(app: OpenAPIHono<AppEnv>): Map<string, RouteConfig> {
  const routes = new Map<string, RouteConfig>();
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type === 'route') routes.set(`${definition.route.method.toUpperCase()} ${definition.route.path}`, definition.route);
  }
  return routes;
}

function isZodType(schema: unknown): schema is Schema {
  return schema instanceof z.ZodType;
}

function pointer(path: ReadonlyArray<PropertyKey>): string {
  return path.map((segment) => `/${String(segment)}`).join('') || '/';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The paths of keys in `value` that `schema` does not declare. A union counts as declaring a key
 * when some option that accepts the value declares it.
 */
export function undeclaredKeys(schema: Schema, value: unknown, path: PropertyKey[] = []): string[] {
  if (value === null || value === undefined) return [];
  if (schema instanceof z.ZodObject) {
    if (!isPlainObject(value)) return [];
    const catchall = schema._zod.def.catchall;
    const open = catchall !== undefined && !(catchall instanceof z.ZodNever);
    return Object.entries(value).flatMap(([key, child]) => {
      const declared = schema.shape[key];
      if (declared !== undefined) return undeclaredKeys(declared, child, [...path, key]);
      return open ? undeclaredKeys(catchall, child, [...path, key]) : [pointer([...path, key])];
    });
  }
  if (schema instanceof z.ZodArray) {
    return Array.isArray(value) ? value.flatMap((item, index) => undeclaredKeys(schema.element, item, [...path, index])) : [];
  }
  if (schema instanceof z.ZodTuple) {
    if (!Array.isArray(value)) return [];
    const { items, rest } = schema._zod.def;
    return value.flatMap((item, index) => {
      const itemSchema = items[index] ?? rest;
      return itemSchema ? undeclaredKeys(itemSchema, item, [...path, index]) : [];
    });
  }
  if (schema instanceof z.ZodRecord) {
    return isPlainObject(value)
      ? Object.entries(value).flatMap(([key, child]) => undeclaredKeys(schema._zod.def.valueType, child, [...path, key]))
      : [];
  }
  if (schema instanceof z.ZodUnion) {
    const accepting = schema.options.filter((option) => z.safeParse(option, value).success);
    const perOption = accepting.map((option) => undeclaredKeys(option, value, path));
    return perOption.find((keys) => keys.length === 0) ?? perOption[0] ?? [];
  }
  if (schema instanceof z.ZodIntersection) {
    // A key either side declares is declared.
    const right = new Set(undeclaredKeys(schema._zod.def.right, value, path));
    return undeclaredKeys(schema._zod.def.left, value, path).filter((key) => right.has(key));
  }
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) return undeclaredKeys(schema.unwrap(), value, path);
  if (
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodReadonly ||
    schema instanceof z.ZodCatch ||
    schema instanceof z.ZodNonOptional
  ) {
    return undeclaredKeys(schema._zod.def.innerType, value, path);
  }
  // A response is what goes into the pipe: its input side describes the JSON.
  if (schema instanceof z.ZodPipe) return undeclaredKeys(schema._zod.def.in, value, path);
  if (schema instanceof z.ZodLazy) return undeclaredKeys(schema._zod.def.getter(), value, path);
  return [];
}

function headerIsRequired(header: unknown): boolean {
  if (!isPlainObject(header)) return false;
  const ref = header.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/headers/', '');
    const component = (COMMON_HEADER_COMPONENTS as Record<string, { required?: boolean }>)[name];
    if (component === undefined) throw new ResponseContractError(`the header reference ${ref} names no component`);
    return component.required === true;
  }
  return header.required === true;
}

/** The required headers `documented` declares that `headers` lacks. */
function missingHeaders(documented: Exclude<Documented, { $ref: string }>, headers: Headers): string[] {
  const declared = documented.headers;
  if (declared === undefined) return [];
  if (declared instanceof z.ZodObject) {
    const values = Object.fromEntries(Object.keys(declared.shape).map((name) => [name, headers.get(name) ?? undefined]));
    const result = z.safeParse(declared, values);
    return result.success ? [] : result.error.issues.map((issue) => `${pointer(issue.path)}: ${issue.message}`);
  }
  return Object.entries(declared)
    .filter(([name, header]) => headerIsRequired(header) && !headers.has(name))
    .map(([name]) => `${name} (required)`);
}

function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

/** What is wrong with `response` against `route`'s documentation of it; empty when nothing is. */
async function contractViolations(route: RouteConfig, response: Response): Promise<string[]> {
  const documented = route.responses[response.status] ?? route.responses.default;
  if (documented === undefined) {
    return [`status ${response.status} is not documented (documented: ${Object.keys(route.responses).join(', ')})`];
  }
  if ('$ref' in documented) return [`the ${response.status} response is a $ref, which this check cannot follow`];
  const violations = missingHeaders(documented, response.headers).map((header) => `missing header ${header}`);
  // A 101 carries the socket, not a body to read.
  if (response.status === 101) return violations;

  const text = await response.clone().text();
  const contentType = response.headers.get('Content-Type');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  const content = documented.content ?? {};
  if (Object.keys(content).length === 0) {
    return text === '' ? violations : [...violations, `a body (${contentType ?? 'no Content-Type'}) where none is documented`];
  }
  const media = mediaType === undefined ? undefined : content[mediaType];
  if (mediaType === undefined || media === undefined) {
    return [...violations, `Content-Type ${contentType ?? '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`];
  }
  if (!isJson(mediaType)) return violations;
  const schema = 'schema' in media ? media.schema : undefined;
  if (!isZodType(schema)) return [...violations, `the ${mediaType} schema is not a zod schema, which this check needs`];

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...violations, `the body is not JSON: ${text.slice(0, 200)}`];
  }
  // The route's schemas describe the newest version: a body rendered in an older one that a version
  // change transforms has the shape of that version's released spec (test/versions/ checks those).
  const version = response.headers.get(API_VERSION_HEADER) ?? NEWEST_API_VERSION;
  if (isApiVersion(version) && route.operationId !== undefined && differsIn(version, route.operationId)) return violations;
  const result = z.safeParse(schema, body);
  if (!result.success) {
    violations.push(...result.error.issues.map((issue) => `${pointer(issue.path)}: ${issue.message} (${issue.code})`));
  }
  violations.push(...undeclaredKeys(schema, body).map((key) => `${key}: not declared by the schema`));
  return violations;
}

/** Throws a {@link ResponseContractError} unless `response` is one that (method, schemaPath)'s route documents. */
export async function checkResponse(
  routes: ReadonlyMap<string, RouteConfig>,
  method: string,
  schemaPath: string,
  response: Response,
): Promise<void> {
  const route = routes.get(`${method.toUpperCase()} ${schemaPath}`);
  if (route === undefined) throw new ResponseContractError(`No route definition for ${method.toUpperCase()} ${schemaPath}`);
  const violations = await contractViolations(route, response);
  if (violations.length === 0) return;
  const operation = `${route.operationId ?? '(no operationId)'} (${method.toUpperCase()} ${schemaPath})`;
  throw new ResponseContractError(
    `${operation} answered ${response.status}, which breaks its documented response:\n${violations.map((line) => `  - ${line}`).join('\n')}`,
  );
}

/** The openapi-fetch middleware form: every call made through the client is checked. */
export function responseContractCheck(app: OpenAPIHono<AppEnv>): Middleware {
  const routes = routeIndex(app);
  return {
    async onResponse({ request, response, schemaPath }) {
      await checkResponse(routes, request.method, schemaPath, response);
    },
  };
}
