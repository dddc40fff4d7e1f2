/**
 * @module
 * Response pieces every route shares: the problem responses and the headers on every response, and
 * the one header that goes both ways, the D1 bookmark (request parameter and response header).
 */
import type { RouteConfig } from '@hono/zod-openapi';
import { BOOKMARK_TOKEN_PATTERN, MAX_BOOKMARK_TOKEN_LENGTH } from '../lib/bookmark-token.ts';
import { API_VERSION_HEADER, API_VERSION_PATTERN, API_VERSIONS, NEWEST_API_VERSION } from '../versions/versions.ts';
import { PROBLEM_CONTENT_TYPE, ProblemSchema } from './problem.ts';

type ResponseConfig = Exclude<RouteConfig['responses'][string], { $ref: string }>;
type HeadersObject = NonNullable<Exclude<ResponseConfig['headers'], { _zod: unknown }>>;

/** Headers present on every response, success or error; defined once in components.headers. */
export const COMMON_RESPONSE_HEADERS = {
  'X-Request-Id': { $ref: '#/components/headers/RequestId' },
  traceparent: { $ref: '#/components/headers/Traceparent' },
  [API_VERSION_HEADER]: { $ref: '#/components/headers/ApiVersion' },
} satisfies HeadersObject;

/** On every response of an authenticated route (draft-ietf-httpapi-ratelimit-headers). */
export const RATE_LIMIT_HEADERS = {
  RateLimit: { $ref: '#/components/headers/RateLimit' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimitPolicy' },
} satisfies HeadersObject;

/** Where a response hands the client its bookmark, and where a later request gives it back (middleware/d1-session.ts). */
export const BOOKMARK_HEADER = 'Switchyard-Bookmark';

/** On every response of a route that reads or writes D1: present once the request has queried it. */
export const BOOKMARK_RESPONSE_HEADERS = {
  [BOOKMARK_HEADER]: { $ref: '#/components/headers/Bookmark' },
} satisfies HeadersObject;

const BOOKMARK_SCHEMA = { type: 'string', pattern: BOOKMARK_TOKEN_PATTERN.source, maxLength: MAX_BOOKMARK_TOKEN_LENGTH } as const;

/** The request parameter every route that reads or writes D1 declares (defineRoute), by `$ref`; registered by openapi.ts. */
export const BOOKMARK_PARAMETER_REF = { $ref: '#/components/parameters/Bookmark' } as const;

export const BOOKMARK_PARAMETER_COMPONENT = {
  name: BOOKMARK_HEADER,
  in: 'header',
  required: false,
  description: `The \`${BOOKMARK_HEADER}\` of an earlier response: this request reads data at least as fresh as that response saw (read-your-writes, whichever database replica serves it). Only a bookmark this API issued is accepted: any other value, an empty one included, is a 400 \`invalid_bookmark\` and nothing is done. A change always starts from the latest data, with or without one. The typed client sends the latest one it received on its own.`,
  // No example: the reference page's "Test Request" would send it, and a bookmark not issued is a 400.
  schema: BOOKMARK_SCHEMA,
} as const;

const API_VERSION_SCHEMA = { type: 'string' as const, enum: [...API_VERSIONS] };

/** The request parameter naming the API version, on every operation (defineRoute), by `$ref`; registered by openapi.ts. */
export const API_VERSION_PARAMETER_REF = { $ref: '#/components/parameters/ApiVersion' } as const;

export const API_VERSION_PARAMETER_COMPONENT = {
  name: API_VERSION_HEADER,
  in: 'header',
  required: false,
  description: `The dated API version to render this request in (docs/versioning.md; the versions and what each changed are in \`info.x-api-versions\`). Omitted, the organisation's default (\`default_api_version\` of \`GET /v1/organization\`) applies, or, without an API key, the newest, \`${NEWEST_API_VERSION}\`. Any other value is a 400 \`invalid_api_version\` naming the versions there are. The typed client sends the one it is pinned to (\`apiVersion\`).`,
  schema: API_VERSION_SCHEMA,
} as const;

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
  ApiVersion: {
    description:
      "The API version this response is rendered in: the request's `Switchyard-Version`, else the organisation's default, else the newest; one of `info.x-api-versions` (a date, not an enum: each release adds one).",
    required: true,
    schema: { type: 'string', pattern: API_VERSION_PATTERN.source, example: NEWEST_API_VERSION },
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
  Bookmark: {
    description: [
      'An opaque bookmark of the database state this response saw, present when the request read or wrote the database. Send it back as the `Switchyard-Bookmark` request header and that request reads data at least this fresh: send the one a change answered with, and the reads after it see the change.',
      'Without one, a read may be served by a database replica slightly behind the latest change (replica lag); a change always starts from the latest data. Bookmarks sort oldest first by plain string comparison: with several requests in flight, keep the greatest. The typed client keeps and sends it on its own, per client.',
    ].join(' '),
    required: false,
    schema: {
      ...BOOKMARK_SCHEMA,
      example: '00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683.2n9cR1x3yQ0bW4kz5oV8gD7hJ6fL1sA0eT3uM9pK2cE',
    },
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
