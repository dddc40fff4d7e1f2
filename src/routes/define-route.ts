/**
 * @module
 * The one helper a route is declared with. It wraps `createRoute` so that what every route shares
 * is stated once and appears both at run time and in the spec:
 * - unknown query parameters are refused (a route without a query schema accepts none);
 * - a route with a body gets the body limits (size, strict UTF-8 JSON: see middleware/request-limits.ts) and documents 413 / 415;
 * - `scope` makes the route authenticated (API key → 401), rate limited by `rateLimit` class
 *   (→ 429 and RateLimit headers) and scope-checked (→ 403), and documents all three;
 * - `idempotent` accepts `Idempotency-Key` (held as `claim` or `atomic`: see middleware/idempotency.ts)
 *   and documents 409 / 422;
 * - every route documents 400 and 500, a route with path parameters 404, and every response
 *   carries `X-Request-Id` and `traceparent`;
 * - a route that reads or writes D1 (authenticated, or `callsDependencies`) takes the
 *   `Switchyard-Bookmark` request header and documents it on every response (middleware/d1-session.ts);
 * - every route takes the `Switchyard-Version` request header and every response names its version
 *   (middleware/api-version.ts); an authenticated route renders in the organisation's default when the
 *   request names none, and an operation a version change transforms gets its bodies rendered;
 * - each error response documents the problem of its status (`Problem404`…), whose `code` lists
 *   exactly the catalogue's codes with that status; a status no code has throws here.
 * - `signed` marks a sensitive operation: when the caller's organisation requires signed requests,
 *   it needs an RFC 9421 signature by one of the organisation's signing keys, checked after the scope
 *   and before validation, the handler and idempotency (middleware/request-signature.ts); it
 *   documents the signature's 401 problems and `Accept-Signature`.
 * The declarations also appear in the spec as `x-required-scope`, `x-rate-limit-class`,
 * `x-idempotent` (`atomic` or `claim`: whether a duplicate in flight can get a 409) and
 * `x-signature-required` (`when-organization-requires`).
 */
import { createRoute, type OpenAPIHono, type RouteConfig, type RouteHandler, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { organizationApiVersion, versionedBodies } from '../middleware/api-version.ts';
import { authenticate, requireScope, WWW_AUTHENTICATE } from '../middleware/auth.ts';
import { type IdempotencyMode, withIdempotency } from '../middleware/idempotency.ts';
import { type RateLimitClass, rateLimit } from '../middleware/rate-limit.ts';
import { bodySizeLimit, jsonBodyLimits } from '../middleware/request-limits.ts';
import { ACCEPT_SIGNATURE, requireSignature, SIGNATURE_WINDOW_SECONDS } from '../middleware/request-signature.ts';
import { codesWithStatus, PROBLEM_CONTENT_TYPE, ProblemSchema, problemSchemaFor } from '../schemas/problem.ts';
import {
  API_VERSION_PARAMETER_REF,
  BOOKMARK_PARAMETER_REF,
  BOOKMARK_RESPONSE_HEADERS,
  COMMON_RESPONSE_HEADERS,
  OPTIONAL_RETRY_AFTER_HEADER,
  problemResponse,
  RATE_LIMIT_HEADERS,
  RETRY_AFTER_HEADER,
} from '../schemas/responses.ts';
import type { Scope } from '../schemas/scopes.ts';
import { transformedOperations } from '../versions/render.ts';

type Responses = RouteConfig['responses'];

// Computed once: the operations whose bodies some version change transforms.
const TRANSFORMED_OPERATIONS = transformedOperations();

export interface RouteOptions {
  /** The scope an API key needs; a route without one is public. */
  scope?: Scope;
  /** Which per-organisation limit the route counts against (authenticated routes only). */
  rateLimit?: RateLimitClass;
  /** How the route honours `Idempotency-Key` (every authenticated POST should); omitted, it does not. */
  idempotent?: IdempotencyMode;
  /** Whether the route calls D1 or a Durable Object, and so documents their 503 / 504 (db/guarded-d1.ts, sessions/room.ts); authenticated routes always do. */
  callsDependencies?: boolean;
  /** A sensitive operation: signed (RFC 9421) when the organisation requires signed requests (authenticated routes only). */
  signed?: boolean;
}

// No example: a fixed key sent with two different bodies is rightly a 422, so a new one is made per request.
export const IdempotencyKeyHeaderSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/)
  .optional()
  .openapi({
    description:
      'A unique key (1–255 visible ASCII characters, e.g. a UUID) that makes retries safe: for 24 hours the same key from the same API key with the same request replays the first response (`Idempotent-Replayed: true`); with a different request, or from another API key, it is a 422; while the first is in progress, a 409 `idempotency_key_in_use` on the operations that document it, and the first response once it is done on the others.',
  });

function withHeaders(responses: Responses, headers: object): Responses {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) =>
      '$ref' in response ? [status, response] : [status, { ...response, headers: { ...headers, ...(response.headers ?? {}) } }],
    ),
  );
}

/**
 * Every error response documents the problem of its own status (`Problem404`: `code` is one of the
 * catalogue's 404 codes), put in place of the any-status ProblemSchema that problemResponse gives.
 * Done here because only the responses object knows each response's status.
 */
function withStatusProblems(path: string, responses: Responses): Responses {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) => {
      if ('$ref' in response || Number(status) < 400) return [status, response];
      const problem = response.content?.[PROBLEM_CONTENT_TYPE];
      if (problem === undefined) throw new Error(`${path}: the ${status} response must be an ${PROBLEM_CONTENT_TYPE} problem`);
      if (codesWithStatus(Number(status)).length === 0) {
        throw new Error(`${path}: documents ${status}, but no code of the error catalogue (schemas/problem.ts) has that status`);
      }
      if (!('schema' in problem) || problem.schema !== ProblemSchema) return [status, response];
      const schema = problemSchemaFor(Number(status));
      return [status, { ...response, content: { ...response.content, [PROBLEM_CONTENT_TYPE]: { ...problem, schema } } }];
    }),
  );
}

// An atomic route never answers "in progress": a concurrent duplicate gets the first response.
const IDEMPOTENCY_CONFLICTS: Record<IdempotencyMode, string> = {
  claim:
    'a request with the same `Idempotency-Key` is still in progress (`idempotency_key_in_use`, with `Retry-After`), or the response saved for that key can no longer be read (`idempotency_record_unreadable`)',
  atomic: 'the response saved for this `Idempotency-Key` can no longer be read (`idempotency_record_unreadable`)',
};

/** The 409 of an idempotent route: its own conflicts, if it has any, and the idempotency key's. */
function withIdempotencyConflict(responses: Responses, mode: IdempotencyMode): Responses {
  const own = responses[409];
  const conflict = IDEMPOTENCY_CONFLICTS[mode];
  const headers = mode === 'claim' ? OPTIONAL_RETRY_AFTER_HEADER : undefined;
  if (own !== undefined && '$ref' in own) throw new Error('an idempotent route declares its 409 inline');
  const description =
    own === undefined
      ? `${conflict[0]?.toUpperCase()}${conflict.slice(1)}.`
      : `${(own.description ?? '').replace(/\.$/, '')}, or ${conflict}.`;
  return { ...responses, 409: problemResponse(description, headers) };
}

/** The 503 / 504 of a route whose dependency is down or slow; for a change, what the client should do about it. */
function dependencyUnavailable(changes: boolean): Responses {
  const retry = changes
    ? ' A change may have been made: repeat the request with the same `Idempotency-Key` (or read the resource) to learn its outcome.'
    : '';
  return {
    503: problemResponse(
      `A service the request needs (the database, the session's room) is unavailable (\`service_unavailable\`), or failing and calls to it are paused (\`circuit_open\`); retry after \`Retry-After\`.${retry}`,
      RETRY_AFTER_HEADER,
    ),
    504: problemResponse(
      `A service the request needs did not answer in time (\`timeout\`); retry after \`Retry-After\`.${retry}`,
      RETRY_AFTER_HEADER,
    ),
  };
}

const UNAUTHORIZED = 'The API key is missing, malformed, unknown, revoked or expired (the same answer for each).';

/** The 401 of a `signed` route: the API key's, and each reason a signature is refused. */
const SIGNATURE_REFUSALS = `${UNAUTHORIZED.replace(/\.$/, '')}; or the organisation requires signed requests and the signature is missing (\`signature_missing\`), cannot be read (\`signature_malformed\`), does not cover \`@method\`, \`@target-uri\` and, with a body, \`content-digest\` (\`signature_component_missing\`), is older than ${SIGNATURE_WINDOW_SECONDS / 60} minutes or ahead of the clock (\`signature_expired\`), names no signing key of the organisation that is not revoked (\`signing_key_unknown\`), does not verify (\`signature_invalid\`), signs a \`Content-Digest\` the body does not match (\`content_digest_mismatch\`), or reuses a nonce (\`signature_replayed\`).`;

const ACCEPT_SIGNATURE_HEADER = {
  'Accept-Signature': {
    description: `On a signature refusal: what a signature must cover and include (RFC 9421 §5.1), \`${ACCEPT_SIGNATURE}\`.`,
    required: false,
    schema: { type: 'string' },
  },
} as const;

export function defineRoute<const R extends RouteConfig>(route: R & RouteOptions) {
  const { scope, rateLimit: rateLimitClass, idempotent, callsDependencies, signed, ...config } = route;
  const hasBody = config.request?.body !== undefined;
  const hasPathParams = config.request?.params !== undefined;
  const authenticated = scope !== undefined;
  const usesD1 = authenticated || callsDependencies === true;
  if (authenticated && rateLimitClass === undefined) throw new Error(`${config.path}: an authenticated route needs a rateLimit class`);
  if (signed && !authenticated) throw new Error(`${config.path}: only an authenticated route can require a signature`);

  const errors: Responses = {
    400: problemResponse('The request is malformed or a parameter is invalid; `errors` lists each invalid field.'),
    ...(authenticated
      ? {
          401: problemResponse(signed ? SIGNATURE_REFUSALS : UNAUTHORIZED, {
            'WWW-Authenticate': { description: `Always \`${WWW_AUTHENTICATE}\`.`, required: true, schema: { type: 'string' } },
            ...(signed ? ACCEPT_SIGNATURE_HEADER : {}),
          }),
          403: problemResponse(`The API key lacks the \`${scope}\` scope.`),
        }
      : {}),
    ...(hasPathParams ? { 404: problemResponse('No such resource in this organisation.') } : {}),
    ...(idempotent
      ? { 422: problemResponse('The `Idempotency-Key` was already used with a different request, or by a different API key.') }
      : {}),
    ...(hasBody || signed ? { 413: problemResponse('The request body is larger than the limit.') } : {}),
    ...(hasBody ? { 415: problemResponse('The request body is not `application/json`.') } : {}),
    ...(authenticated ? { 429: problemResponse('A rate limit is used up; see `Retry-After`.', RETRY_AFTER_HEADER) } : {}),
    500: problemResponse('An unexpected error; quote the `request_id` when reporting it.'),
    ...(usesD1 ? dependencyUnavailable(config.method !== 'get') : {}),
  };
  const ownResponses = withHeaders(
    idempotent ? withIdempotencyConflict(config.responses, idempotent) : config.responses,
    COMMON_RESPONSE_HEADERS,
  );
  const responses = withStatusProblems(config.path, { ...errors, ...ownResponses });

  const middleware: MiddlewareHandler<AppEnv>[] = [];
  if (authenticated) middleware.push(authenticate(), organizationApiVersion(), rateLimit(rateLimitClass ?? 'read'), requireScope(scope));
  if (hasBody) middleware.push(jsonBodyLimits());
  // A bodiless route reads its body only to hash it for the signature: bounded all the same.
  if (signed) middleware.push(...(hasBody ? [] : [bodySizeLimit()]), requireSignature());
  if (config.operationId !== undefined && TRANSFORMED_OPERATIONS.has(config.operationId))
    middleware.push(versionedBodies(config.operationId));
  const existing = config.middleware === undefined ? [] : Array.isArray(config.middleware) ? config.middleware : [config.middleware];

  const ownHeaders = config.request?.headers;
  if (idempotent && ownHeaders !== undefined && !(ownHeaders instanceof z.ZodObject)) {
    throw new Error(`${config.path}: an idempotent route declares its headers as one z.object`);
  }
  const request = {
    query: z.object({}).strict(),
    ...config.request,
    ...(idempotent
      ? {
          headers: (ownHeaders instanceof z.ZodObject ? ownHeaders : z.object({})).extend({
            'Idempotency-Key': IdempotencyKeyHeaderSchema,
          }),
        }
      : {}),
  };

  const description = [
    config.description,
    authenticated ? `Requires an API key with the \`${scope}\` scope; counts against the \`${rateLimitClass}\` rate limit.` : undefined,
    signed
      ? 'A sensitive operation: when the organisation requires signed requests (`PUT /v1/organization/request-signing`), it must be signed (RFC 9421) by one of its signing keys.'
      : undefined,
    idempotent === 'claim'
      ? 'Its effect is not only a database change, so an `Idempotency-Key` is claimed before it runs: a duplicate sent meanwhile gets 409 `idempotency_key_in_use` (retry after `Retry-After`), not the first response.'
      : undefined,
  ]
    .filter(Boolean)
    .join('\n\n');

  const withD1Headers = usesD1 ? withHeaders(responses, BOOKMARK_RESPONSE_HEADERS) : responses;
  // The cast keeps R's own request and response types for the handler: what is added here is a
  // strict empty query or a header (no new body inputs), middleware, and error responses, which
  // handlers throw rather than return.
  const defined = createRoute({
    ...config,
    ...(description ? { description } : {}),
    security: authenticated ? [{ ApiKey: [] }] : [],
    request,
    // Declared by reference, not in `request.headers`: middleware/d1-session.ts checks it before the
    // route runs (a refused bookmark must stop the request before authentication reads D1).
    parameters: [...(config.parameters ?? []), API_VERSION_PARAMETER_REF, ...(usesD1 ? [BOOKMARK_PARAMETER_REF] : [])],
    middleware: [...middleware, ...existing],
    responses: authenticated ? withHeaders(withD1Headers, RATE_LIMIT_HEADERS) : withD1Headers,
    ...(authenticated ? { 'x-required-scope': scope, 'x-rate-limit-class': rateLimitClass } : {}),
    ...(idempotent ? { 'x-idempotent': idempotent } : {}),
    ...(signed ? { 'x-signature-required': 'when-organization-requires' } : {}),
  } as unknown as R);
  if (idempotent) idempotencyModes.set(defined, idempotent);
  return defined;
}

// How each idempotent route holds its key; kept out of the route object, which becomes the spec.
const idempotencyModes = new WeakMap<object, IdempotencyMode>();

/** A handler typed by its route, so it can only return what the route documents. */
export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

/**
 * What a route checks about the caller beyond its scope: that it may act on, or receive, what the
 * request names (a key's scopes, a participant). It throws an ApiError (403) to refuse. It runs
 * before the idempotency wrapper, so a replayed response is never handed to a caller that the
 * check would refuse now.
 */
export type RouteAuthorizer<R extends RouteConfig> = (c: Parameters<AppRouteHandler<R>>[0]) => Promise<void>;

/**
 * Registers a route defined with defineRoute: its authorizer first, when it has one, then its
 * handler, wrapped with idempotency when declared.
 */
export function openapiRoute<R extends RouteConfig>(
  app: OpenAPIHono<AppEnv>,
  route: R,
  handler: AppRouteHandler<R>,
  authorize?: RouteAuthorizer<R>,
): void {
  const mode = idempotencyModes.get(route);
  const guarded = mode ? withIdempotency(handler, mode) : handler;
  if (authorize === undefined) {
    app.openapi(route, guarded);
    return;
  }
  const authorized = async (c: Parameters<AppRouteHandler<R>>[0], next: () => Promise<void>) => {
    await authorize(c);
    return guarded(c, next);
  };
  // The wrapper returns whatever the handler returns; TypeScript cannot follow that through the await.
  app.openapi(route, authorized as unknown as AppRouteHandler<R>);
}
