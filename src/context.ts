/**
 * @module
 * The one Hono environment type every router, middleware and handler shares.
 */
import type { Bindings, Config } from './env.ts';
import type { Logger } from './lib/logger.ts';

export interface AppVariables {
  /** Set by hono/request-id: the caller's well-formed `X-Request-Id`, or a new one. */
  requestId: string;
  /** W3C trace context of this request (the caller's trace, our own span). */
  traceId: string;
  spanId: string;
  /** `performance.now()` at the start of the request. */
  startedAt: number;
  logger: Logger;
  config: Config;
  /** An unexpected error, kept for the request's log line. */
  unexpectedError?: unknown;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: AppVariables;
}
