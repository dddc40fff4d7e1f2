/**
 * @module
 * Security events: every refusal that says something about who is calling — a bad key, a denied
 * scope, a spent limit, a refused Origin or token, an invalid frame, a webhook URL that points
 * inwards — is one `security_event` log line with a stable schema (docs/observability.md) and one
 * `security` metric. The line carries the request id and trace id (the logger adds them), never
 * a secret, a token or an address: an IP appears only as the keyed hash the brute-force guard counts.
 */
import type { Logger } from './logger.ts';
import { recordEvent, type Telemetry } from './metrics.ts';

export const SECURITY_EVENT_TYPES = [
  'auth_failed',
  'scope_denied',
  'rate_limited',
  'cors_refused',
  'origin_refused',
  'token_refused',
  'participant_refused',
  'frame_refused',
  'ssrf_refused',
  'user_agent_refused',
  'bookmark_refused',
  'signature_refused',
] as const;
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

/** Only strings, numbers and booleans: nothing structured that could carry a request's body into a log. */
export type SecurityDetails = Record<string, string | number | boolean | undefined>;

export interface SecurityEvent {
  event: SecurityEventType;
  /** Why, as a short stable code (`revoked_key`, `missing_scope`, a rate-limit policy): what an alert groups by. */
  reason: string;
  details?: SecurityDetails;
}

/** What the line says about where it happened: the route template, method and status when it was a request. */
export interface SecurityEventContext {
  route?: string | null;
  method?: string;
  status?: number;
}

/** Client-chosen strings (an Origin, a subprotocol) are cut: a log line must not grow with what an attacker sends. */
const MAX_DETAIL_LENGTH = 256;

/**
 * Writes the log line and the metric of one security event.
 *
 * @example
 * ```ts
 * recordSecurityEvent(logger, telemetry, { event: 'auth_failed', reason: 'revoked_key' }, { route: '/v1/devices', method: 'GET', status: 401 })
 * // → {"level":"warn","msg":"security_event","event":"auth_failed","reason":"revoked_key","request_id":"req_…",…}
 * ```
 */
export function recordSecurityEvent(
  logger: Logger,
  telemetry: Telemetry | undefined,
  event: SecurityEvent,
  context: SecurityEventContext = {},
): void {
  const details: SecurityDetails = {};
  for (const [name, value] of Object.entries(event.details ?? {})) {
    details[name] = typeof value === 'string' ? value.slice(0, MAX_DETAIL_LENGTH) : value;
  }
  logger.warn('security_event', {
    ...details,
    event: event.event,
    reason: event.reason,
    route: context.route ?? null,
    method: context.method ?? null,
    status: context.status ?? null,
    org_id: telemetry?.orgId ?? null,
    key_id: telemetry?.keyId ?? null,
  });
  recordEvent(telemetry, { kind: 'security', name: event.event, detail: event.reason, value: context.status });
}
