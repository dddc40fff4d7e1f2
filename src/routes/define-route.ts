/**
 * @module
 * The one helper a route is declared with. It wraps `createRoute` so that what every route shares
 * is stated once and appears both at run time and in the spec:
 * - unknown query parameters are refused (a route without a query schema accepts none);
 * - a route with a body gets the body limits (size, depth, NUL) and documents 413 / 415;
 * - every route documents 400 and 500, a route with path parameters 404, and every response
 *   carries `X-Request-Id` and `traceparent`.
 */
import { createRoute, type RouteConfig, type RouteHandler, z } from '@hono/zod-openapi';
import type { AppEnv } from '../context.ts';
import { jsonBodyLimits } from '../middleware/request-limits.ts';
import { COMMON_RESPONSE_HEADERS, problemResponse } from '../schemas/responses.ts';

type Responses = RouteConfig['responses'];

function withCommonHeaders(responses: Responses): Responses {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) =>
      '$ref' in response
        ? [status, response]
        : [status, { ...response, headers: { ...COMMON_RESPONSE_HEADERS, ...(response.headers ?? {}) } }],
    ),
  );
}

export function defineRoute<const R extends RouteConfig>(route: R) {
  const hasBody = route.request?.body !== undefined;
  const hasPathParams = route.request?.params !== undefined;
  const errors: Responses = {
    400: problemResponse('The request is malformed or a parameter is invalid; `errors` lists each invalid field.'),
    ...(hasPathParams ? { 404: problemResponse('No such resource.') } : {}),
    ...(hasBody
      ? {
          413: problemResponse('The request body is larger than the limit.'),
          415: problemResponse('The request body is not `application/json`.'),
        }
      : {}),
    500: problemResponse('An unexpected error; quote the `request_id` when reporting it.'),
  };
  const existingMiddleware = route.middleware === undefined ? [] : Array.isArray(route.middleware) ? route.middleware : [route.middleware];
  // The cast keeps R's own request and response types for the handler: what is added here is a
  // strict empty query (no new inputs), middleware, and error responses, which handlers throw, not return.
  return createRoute({
    ...route,
    request: { query: z.object({}).strict(), ...route.request },
    middleware: hasBody ? [jsonBodyLimits(), ...existingMiddleware] : existingMiddleware,
    responses: { ...errors, ...withCommonHeaders(route.responses) },
  } as R);
}

/** A handler typed by its route, so it can only return what the route documents. */
export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;
