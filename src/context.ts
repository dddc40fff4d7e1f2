/**
 * @module
 * The one Hono environment type every router, middleware and handler shares.
 */
import type { Bindings, Config } from './env.ts';
import type { KeyMode } from './lib/api-key.ts';
import type { Logger } from './lib/logger.ts';
import type { RequestMeter, Telemetry } from './lib/metrics.ts';
import type { Plan } from './schemas/plans.ts';
import type { Scope } from './schemas/scopes.ts';
import type { ApiVersion } from './versions/versions.ts';

/** Who is calling: set by the auth middleware on every authenticated route. */
export interface AuthContext {
  orgId: string;
  keyId: string;
  mode: KeyMode;
  scopes: Scope[];
  /** When the calling key stops working (null: never); a key it creates may not outlive it. */
  expiresAt: string | null;
  /** The organisation's plan, as the key lookup read it (cached with the key, like the limits). */
  plan: Plan;
  limits: { read: number; write: number; token: number };
  /**
   * Whether the organisation requires signed requests for sensitive operations, as the key lookup
   * read it (cached with the key: a change made on another isolate applies there within the
   * cache's TTL, db/api-key-cache.ts).
   */
  requireSignedRequests: boolean;
  /** The organisation's default API version (cached with the key: a change is seen within the key cache's TTL). */
  apiVersion: ApiVersion;
}

/** An `atomic` request's Idempotency-Key, until its result is saved (middleware/idempotency.ts). */
export interface PendingIdempotency {
  orgId: string;
  key: string;
  fingerprint: string;
  saved: boolean;
}

export interface AppVariables {
  /** Set by hono/request-id: the caller's well-formed `X-Request-Id`, or a new one. */
  requestId: string;
  /** W3C trace context of this request (the caller's trace, our own span). */
  traceId: string;
  spanId: string;
  /** `performance.now()` at the start of the request. */
  startedAt: number;
  logger: Logger;
  /** Where this request's metrics go; the auth middleware adds the organisation and key. */
  telemetry: Telemetry;
  /** What the request's data point adds up: D1 time and queries, the key cache's answer. */
  meter: RequestMeter;
  /** The code of the problem the request was answered with, for its data point. */
  errorCode?: string;
  /** `Date.now()` by which the request must be answered (middleware/deadline.ts); dependency calls stop waiting then. */
  deadlineAt: number;
  config: Config;
  /** The API version this request is rendered in (middleware/api-version.ts): named by the request, else the organisation's, else the newest. */
  apiVersion: ApiVersion;
  /** Whether the request named its version in `Switchyard-Version` (then the organisation's default does not apply). */
  apiVersionRequested: boolean;
  /**
   * The plain binding, guarded with the request's deadline: for the reads that must see the latest
   * commit whatever replica the request's session reads (an API key this isolate has not cached).
   */
  primaryDb: D1Database;
  auth: AuthContext;
  /** The Idempotency-Key of an `atomic` idempotent route, until its result is saved. */
  idempotency?: PendingIdempotency;
  /** An unexpected error, kept for the request's log line. */
  unexpectedError?: unknown;
  /** The signing key whose signature this request carried, once verified (middleware/request-signature.ts). */
  signingKeyId?: string;
  /** The INSERT of the event the change being committed writes, so that its dispatch follows the commit (routes/outbox.ts). */
  eventInsert?: D1PreparedStatement;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: AppVariables;
}
