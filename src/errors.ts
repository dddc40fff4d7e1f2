/**
 * @module
 * Every error the API can answer, and the one place they are turned into RFC 9457 problem
 * responses. Code anywhere throws {@link ApiError}; `app.onError` calls {@link renderProblem}.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FieldError, Problem } from './schemas/problem.ts';

/** Where a problem's `type` URI points: one documented page per code. */
export const PROBLEM_TYPE_BASE = 'https://switchyard.dev/problems/';

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
  unauthorized: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'A valid connect token is required' },
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
  idempotency_key_in_use: { status: 409, title: 'A request with this idempotency key is still in progress' },
  idempotency_key_reused: { status: 422, title: 'The idempotency key was used with a different request' },
  idempotency_record_unreadable: { status: 409, title: 'The response saved for this idempotency key cannot be read' },
  upgrade_required: { status: 426, title: 'This endpoint is a WebSocket' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
  service_misconfigured: { status: 500, title: 'The service is misconfigured' },
  not_ready: { status: 503, title: 'The service is not ready' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface ApiErrorOptions {
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * An error meant for the client. A class because `throw` and `instanceof` need one; its message is
 * the public `detail`, so it must never carry internals (SQL, stack, secrets).
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: ApiErrorOptions = {}) {
    const entry = ERROR_CATALOG[code];
    super(options.detail ?? entry.title, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = entry.status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }
}

/** Status → code for errors raised by Hono and its middleware as `HTTPException`. */
const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'malformed_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** Maps a status raised by a library to our error code; anything unknown is an internal error. */
export function codeForStatus(status: number): ErrorCode {
  return CODE_BY_STATUS[status] ?? 'internal_error';
}

/** Renders an ApiError as `application/problem+json`, carrying the request id. */
export function renderProblem(c: Context, error: ApiError): Response {
  const entry = ERROR_CATALOG[error.code];
  const body: Problem = {
    type: `${PROBLEM_TYPE_BASE}${error.code.replaceAll('_', '-')}`,
    title: entry.title,
    status: error.status,
    detail: error.message,
    instance: new URL(c.req.url).pathname,
    code: error.code,
    request_id: c.get('requestId') ?? '',
    ...(error.errors ? { errors: error.errors } : {}),
  };
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  c.header('Content-Type', PROBLEM_CONTENT_TYPE);
  return c.body(JSON.stringify(body), error.status);
}
