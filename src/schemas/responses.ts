/**
 * @module
 * Response pieces every route shares: the problem responses and the headers on every response.
 */
import type { RouteConfig } from '@hono/zod-openapi';
import { PROBLEM_CONTENT_TYPE, ProblemSchema } from './problem.ts';

type ResponseConfig = Exclude<RouteConfig['responses'][string], { $ref: string }>;
type HeadersObject = NonNullable<Exclude<ResponseConfig['headers'], { _zod: unknown }>>;

/** Headers present on every response, success or error; defined once in components.headers. */
export const COMMON_RESPONSE_HEADERS = {
  'X-Request-Id': { $ref: '#/components/headers/RequestId' },
  traceparent: { $ref: '#/components/headers/Traceparent' },
} satisfies HeadersObject;

/** On every response of an authenticated route (draft-ietf-httpapi-ratelimit-headers). */
export const RATE_LIMIT_HEADERS = {
  RateLimit: { $ref: '#/components/headers/RateLimit' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimitPolicy' },
} satisfies HeadersObject;

/** The components the header references point at; registered by openapi.ts. */
export const COMMON_HEADER_COMPONENTS = {
  RequestId: {
    description:
      "The id of this request: the caller's `X-Request-Id` when well formed (letters, digits, `_`, `-`, `=`; at most 128), else a new one.",
    required: true,
    schema: { type: 'string', example: 'req_3f2b0c1e9d8a4f6b' },
  },
  Traceparent: {
    description: "W3C Trace Context of this request: the caller's trace id (or a new one) and this request's span id.",
    required: true,
    schema: { type: 'string', pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
  },
  RateLimit: {
    description:
      'What is left of the limit this request counted against: `"<class>";r=<remaining>;t=<seconds until more of the limit frees up>` (the limit holds over any 60 s, so `t` can be up to 62).',
    required: false,
    schema: { type: 'string', example: '"write";r=119;t=42' },
  },
  RateLimitPolicy: {
    description: 'The limit this request counted against: `"<class>";q=<requests>;w=<window seconds>`.',
    required: false,
    schema: { type: 'string', example: '"write";q=120;w=60' },
  },
} as const;

/** A documented problem response, optionally with extra headers (e.g. `Retry-After`, `Allow`). */
export function problemResponse(description: string, headers: HeadersObject = {}): ResponseConfig {
  return {
    description,
    headers: { ...COMMON_RESPONSE_HEADERS, ...headers },
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
  };
}

export const RETRY_AFTER_HEADER = {
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    required: true,
    schema: { type: 'integer', minimum: 0, example: 5 },
  },
} satisfies HeadersObject;

/** `Retry-After` on a response that carries it only for some of its codes. */
export const OPTIONAL_RETRY_AFTER_HEADER = {
  'Retry-After': {
    description: 'With `idempotency_key_in_use`: seconds to wait.',
    required: false,
    schema: { type: 'integer', minimum: 0 },
  },
} satisfies HeadersObject;

/** The `Location` header of a 201: the URL of what was created (`what`, e.g. "The device's URL."). */
export function locationHeader(what: string): HeadersObject {
  return { Location: { description: what, required: true, schema: { type: 'string' } } };
}
