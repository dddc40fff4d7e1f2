/**
 * @module
 * The error type code throws, and the one place it is turned into an RFC 9457 problem response;
 * the catalogue of codes is part of the contract (schemas/problem.ts). Code anywhere throws {@link ApiError}; `app.onError` calls {@link renderProblem}.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './context.ts';
import { ifMatchHolds, versionEtag } from './lib/etag.ts';
import { CircuitOpenError, TimeoutError } from './lib/resilience.ts';
import { routeTemplate } from './lib/route-template.ts';
import { recordSecurityEvent, type SecurityDetails, type SecurityEventType } from './lib/security-events.ts';
import {
  ERROR_CATALOG,
  type ErrorCode,
  type ErrorCodeFor,
  type ErrorStatus,
  type FieldError,
  PROBLEM_CONTENT_TYPE,
  PROBLEMS_PATH,
  type Problem,
} from './schemas/problem.ts';

/** How soon a client may retry after a dependency failed (an open circuit says its own). */
const DEPENDENCY_RETRY_AFTER_SECONDS = 1;

/**
 * The refusals that are security events (lib/security-events.ts), whoever throws them: rendering
 * one writes its `security_event` line. Others opt in with {@link ApiErrorOptions.security}.
 */
const SECURITY_EVENT_OF_CODE: Partial<Record<ErrorCode, SecurityEventType>> = {
  unauthorized: 'auth_failed',
  invalid_token: 'token_refused',
  insufficient_scope: 'scope_denied',
  key_outlives_caller: 'scope_denied',
  origin_not_allowed: 'origin_refused',
  participant_not_allowed: 'participant_refused',
  rate_limited: 'rate_limited',
  invalid_user_agent: 'user_agent_refused',
  // A bookmark we did not sign is a forgery or a copy from elsewhere: one that could hold replicas up.
  invalid_bookmark: 'bookmark_refused',
  // A sensitive operation refused for its signature (middleware/request-signature.ts): a stolen API key at work, or a broken signer.
  signature_missing: 'signature_refused',
  signature_malformed: 'signature_refused',
  signature_component_missing: 'signature_refused',
  signature_expired: 'signature_refused',
  signing_key_unknown: 'signature_refused',
  signature_invalid: 'signature_refused',
  content_digest_mismatch: 'signature_refused',
  signature_replayed: 'signature_refused',
};

/** What the security event of a refusal says: never sent to the client, only logged and counted. */
export interface SecurityNote {
  /** Needed only for a code that is not a security refusal by itself (a webhook URL refused as `validation_failed`). */
  event?: SecurityEventType;
  /** Why, as a stable code: what the client is not told (which of the 401's causes it was). */
  reason: string;
  details?: SecurityDetails;
}

export interface ApiErrorOptions {
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
  security?: SecurityNote;
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
  readonly security: SecurityNote | undefined;

  constructor(code: ErrorCode, options: ApiErrorOptions = {}) {
    const entry = ERROR_CATALOG[code];
    super(options.detail ?? entry.title, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = entry.status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.security = options.security;
  }
}

/** The 404 of a resource that is not in the caller's organisation (or nowhere): the same answer for both. */
export function notFound(
  kind: 'API key' | 'device' | 'event' | 'export' | 'session' | 'signing key' | 'webhook endpoint',
  id: string,
): ApiError {
  return new ApiError('not_found', { detail: `No ${kind} ${id}.` });
}

/** 412 unless `ifMatch` is absent, `*` or the ETag of `version`: the check before a change of an object that has versions. */
export function requireIfMatch(ifMatch: string | undefined, version: number, kind: 'device' | 'organization' | 'webhook endpoint'): void {
  if (ifMatchHolds(ifMatch, versionEtag(version))) return;
  throw new ApiError('precondition_failed', { detail: `The ${kind} is at ${versionEtag(version)}; If-Match named another version.` });
}

/**
 * The problem for a dependency that failed to answer: 503 `circuit_open` while its calls are
 * paused, 504 `timeout` when it did not answer in time, else 503 `service_unavailable`; each with
 * `Retry-After`, the failure as the logged cause. `effect` tells the client what may have happened
 * anyway (a change made, a message sent) and how to find out.
 */
export function dependencyProblem(dependency: string, error: unknown, effect = ''): ApiError {
  const suffix = effect === '' ? '' : ` ${effect}`;
  if (error instanceof CircuitOpenError) {
    return new ApiError('circuit_open', {
      detail: `${dependency} has been failing; calls to it are paused for a few seconds.${suffix}`,
      headers: { 'Retry-After': String(Math.ceil(error.retryAfterMs / 1000)) },
      cause: error,
    });
  }
  const headers = { 'Retry-After': String(DEPENDENCY_RETRY_AFTER_SECONDS) };
  if (error instanceof TimeoutError) {
    return new ApiError('timeout', { detail: `${dependency} did not answer in time.${suffix}`, headers, cause: error });
  }
  return new ApiError('service_unavailable', { detail: `${dependency} is unavailable.${suffix}`, headers, cause: error });
}

/**
 * Status → code for errors raised by Hono and its middleware as `HTTPException`; typed so each code
 * is one the catalogue gives that status, as the documented per-status problem requires.
 */
const CODE_BY_STATUS: { readonly [S in ErrorStatus]?: ErrorCodeFor<S> } = {
  400: 'malformed_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** Maps a status raised by a library to our error code; anything unknown is an internal error. */
export function codeForStatus(status: number): ErrorCode {
  const byStatus: Partial<Record<number, ErrorCode>> = CODE_BY_STATUS;
  return byStatus[status] ?? 'internal_error';
}

/** How a code appears in its problem `type` URI and page: kebab case (`not_found` → `not-found`). */
export function problemSlug(code: ErrorCode): string {
  return code.replaceAll('_', '-');
}

/**
 * Where a problem's `type` points: the page this Worker serves for the code
 * (src/routes/problems/), on the origin that answered, so the link works on every deployment.
 */
export function problemTypeUri(requestUrl: string, code: ErrorCode): string {
  return new URL(`${PROBLEMS_PATH}${problemSlug(code)}`, requestUrl).href;
}

function recordRefusal(c: Context<AppEnv>, error: ApiError): void {
  const event = error.security?.event ?? SECURITY_EVENT_OF_CODE[error.code];
  const logger = c.get('logger');
  if (event === undefined || logger === undefined) return;
  recordSecurityEvent(
    logger,
    c.get('telemetry'),
    { event, reason: error.security?.reason ?? error.code, details: error.security?.details },
    { route: routeTemplate(c), method: c.req.method, status: error.status },
  );
}

/**
 * Renders an ApiError as `application/problem+json`, carrying the request id; a refusal that is a
 * security event is logged and counted here, once, wherever it was thrown.
 */
export function renderProblem(c: Context<AppEnv>, error: ApiError): Response {
  recordRefusal(c, error);
  c.set('errorCode', error.code);
  const entry = ERROR_CATALOG[error.code];
  const body: Problem = {
    type: problemTypeUri(c.req.url, error.code),
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
