/**
 * @module
 * The RFC 9457 problem document every error response carries, and the catalogue of its codes:
 * each code's status and fixed title. The spec documents one problem per status (`Problem404`…),
 * derived from the catalogue, so a code's documented status is the one the renderer sends.
 */
import { z } from '@hono/zod-openapi';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Where the Worker serves one page per code, which a problem's `type` URI names (on the origin that answered). */
export const PROBLEMS_PATH = '/problems/';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Each code's status and fixed title; `detail` says what happened this time. */
export const ERROR_CATALOG = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_json: { status: 400, title: 'The request body is not valid JSON' },
  json_too_deep: { status: 400, title: 'The request body is nested too deeply' },
  invalid_characters: { status: 400, title: 'The request contains a NUL character' },
  invalid_encoding: { status: 400, title: 'The request body is not valid UTF-8' },
  unpaired_surrogate: { status: 400, title: 'The request body contains an unpaired UTF-16 surrogate' },
  reserved_key: { status: 400, title: 'The request body uses a reserved key' },
  duplicate_key: { status: 400, title: 'The request body repeats a key within an object' },
  malformed_request: { status: 400, title: 'The request could not be read' },
  invalid_user_agent: { status: 400, title: 'The User-Agent header is malformed' },
  invalid_bookmark: { status: 400, title: 'The Switchyard-Bookmark header is not one this API issued' },
  invalid_api_version: { status: 400, title: 'The Switchyard-Version header names no version of this API' },
  unauthorized: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'A valid connect token is required' },
  signature_missing: { status: 401, title: 'This operation requires a signed request' },
  signature_malformed: { status: 401, title: 'The request signature cannot be read' },
  signature_component_missing: { status: 401, title: 'The request signature does not cover what it must' },
  signature_expired: { status: 401, title: 'The request signature is outside its validity window' },
  signing_key_unknown: { status: 401, title: 'The request is signed with an unknown or revoked signing key' },
  signature_invalid: { status: 401, title: 'The request signature does not verify' },
  content_digest_mismatch: { status: 401, title: 'The request body does not match its Content-Digest' },
  signature_replayed: { status: 401, title: 'The request signature was already used' },
  origin_not_allowed: { status: 403, title: 'This Origin may not connect' },
  insufficient_scope: { status: 403, title: 'The API key lacks a required scope' },
  key_outlives_caller: { status: 403, title: 'A key cannot outlive the key that creates it' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  precondition_failed: { status: 412, title: 'The resource has changed since you read it' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  conflict: { status: 409, title: 'The request conflicts with an existing resource' },
  cannot_revoke_self: { status: 409, title: 'An API key cannot revoke itself' },
  session_ended: { status: 409, title: 'The session has ended' },
  session_full: { status: 409, title: 'The session has as many participants as it allows' },
  participant_not_allowed: { status: 403, title: 'The participant may not join this session' },
  key_already_rotated: { status: 409, title: 'The API key was already rotated' },
  limit_reached: { status: 409, title: 'The organisation has as many of these as it may' },
  last_signing_key: { status: 409, title: 'The organisation requires signed requests and this is its last signing key' },
  no_signing_key: { status: 409, title: 'The organisation has no signing key to sign requests with' },
  endpoint_disabled: { status: 409, title: 'The webhook endpoint is disabled' },
  event_not_subscribed: { status: 409, title: 'The webhook endpoint does not receive this type of event' },
  export_in_progress: { status: 409, title: 'The organisation has an export in progress' },
  export_not_ready: { status: 409, title: 'The export has no archive to download yet' },
  export_expired: { status: 410, title: 'The export has expired' },
  idempotency_key_in_use: { status: 409, title: 'A request with this idempotency key is still in progress' },
  idempotency_key_reused: { status: 422, title: 'The idempotency key was used with a different request' },
  idempotency_record_unreadable: { status: 409, title: 'The response saved for this idempotency key cannot be read' },
  erasure_not_confirmed: { status: 422, title: 'The erasure was not confirmed' },
  upgrade_required: { status: 426, title: 'This endpoint is a WebSocket' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
  service_misconfigured: { status: 500, title: 'The service is misconfigured' },
  not_ready: { status: 503, title: 'The service is not ready' },
  service_unavailable: { status: 503, title: 'A service this request needs is unavailable' },
  circuit_open: { status: 503, title: 'A service this request needs is failing; calls to it are paused' },
  timeout: { status: 504, title: 'A service this request needs did not answer in time' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

const ERROR_CODES = Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]];

export const FieldErrorSchema = z
  .object({
    location: z
      .enum(['body', 'query', 'path', 'header'])
      .openapi({ description: 'Which part of the request the invalid value is in.', example: 'body' }),
    pointer: z.string().openapi({
      description: 'JSON Pointer (RFC 6901) to the invalid value within that part; empty for the part itself.',
      example: '/name',
    }),
    detail: z
      .string()
      .openapi({ description: 'What is wrong with the value.', example: 'Too big: expected string to have <=100 characters' }),
    code: z.string().openapi({ description: 'Machine-readable reason, stable across releases.', example: 'too_big' }),
  })
  .openapi('FieldError', { description: 'One invalid field of a request.' });

/** Every status some catalogue code has. */
export type ErrorStatus = (typeof ERROR_CATALOG)[ErrorCode]['status'];

/** The codes whose catalogue status is `S`. */
export type ErrorCodeFor<S extends ErrorStatus> = {
  [C in ErrorCode]: (typeof ERROR_CATALOG)[C]['status'] extends S ? C : never;
}[ErrorCode];

/** The codes of the catalogue with this status, in catalogue order; empty when none has it. */
export function codesWithStatus(status: number): ErrorCode[] {
  return ERROR_CODES.filter((code) => ERROR_CATALOG[code].status === status);
}

function problemSchema<C extends ErrorCode, S extends number>(codes: readonly [C, ...C[]], status: z.ZodType<S>) {
  const [first] = codes;
  return z.object({
    type: z.url().openapi({
      description:
        'URI identifying the kind of problem: the page this API serves for the `code` (`/problems/{code}` in kebab case, on the host that answered), saying what it means and what to do.',
      example: `https://api.example.com${PROBLEMS_PATH}${first.replaceAll('_', '-')}`,
    }),
    title: z.string().openapi({
      description: 'Short summary of the kind of problem; the same for every occurrence.',
      example: ERROR_CATALOG[first].title,
    }),
    status,
    detail: z.string().openapi({
      description: 'What went wrong in this occurrence, for a human.',
      example: first === 'validation_failed' ? 'query.limit: Too big: expected number to be <=100' : ERROR_CATALOG[first].title,
    }),
    instance: z.string().openapi({ description: 'The path of the request that failed.', example: '/v1/devices' }),
    code: z.enum(codes).openapi({
      description: 'Machine-readable error code, one of the catalogue; branch on this, not on `title`.',
      example: first,
    }),
    request_id: z.string().openapi({
      description: 'The request id, also in the `X-Request-Id` header; quote it when asking for support.',
      example: 'req_3f2b0c1e9d8a4f6b',
    }),
    errors: z.array(FieldErrorSchema).optional().openapi({ description: 'Each invalid field, for validation problems.' }),
  });
}

/**
 * Any problem, whatever its status: the type the renderer builds. The spec documents the
 * per-status schemas instead ({@link problemSchemaFor}), which defineRoute puts in its place.
 */
export const ProblemSchema = problemSchema(
  ERROR_CODES,
  z.int().min(400).max(599).openapi({ description: 'The HTTP status code of this response.', example: 400 }),
).openapi('Problem', { description: 'An RFC 9457 problem document.' });

function statusProblemSchema(status: number) {
  const codes = codesWithStatus(status);
  const [first, ...rest] = codes;
  if (first === undefined) return undefined;
  const list = codes.map((code) => `\`${code}\``).join(', ');
  return problemSchema(
    [first, ...rest],
    z.literal(status).openapi({ type: 'integer', enum: [status], description: 'The HTTP status code of this response.', example: status }),
  ).openapi(`Problem${status}`, {
    description: `An RFC 9457 problem document with status ${status}: \`code\` is ${codes.length === 1 ? list : `one of ${list}`}.`,
  });
}

// Built once per status, so every route's 404 is the same schema object and the same component.
const PROBLEM_SCHEMAS_BY_STATUS = new Map(
  [...new Set(ERROR_CODES.map((code) => ERROR_CATALOG[code].status))].map((status) => [status, statusProblemSchema(status)]),
);

/**
 * The documented problem of a status, named `Problem<status>` (e.g. `Problem404`), whose `code` is
 * an enum of exactly the catalogue's codes with that status, so a client can switch on it with
 * types. Throws for a status no code has: a route cannot document an error it can never send.
 */
export function problemSchemaFor(status: number): z.ZodType<Problem> {
  const schema = PROBLEM_SCHEMAS_BY_STATUS.get(status as ErrorStatus);
  if (schema === undefined) {
    throw new Error(`no code of the error catalogue has status ${status}; add one to ERROR_CATALOG or do not document ${status}`);
  }
  return schema;
}

export type Problem = z.infer<typeof ProblemSchema>;
export type FieldError = z.infer<typeof FieldErrorSchema>;
