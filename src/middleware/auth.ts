/**
 * @module
 * API-key authentication and scope checks. Every credential failure — missing, malformed, bad
 * checksum, unknown, revoked, expired, a demo key in production — gets the same 401 body and
 * `WWW-Authenticate`, so a caller learns nothing about which it was. Failures that presented a
 * credential (in the header or the query string) are also counted per client IP; past the limit the
 * answer is 429. A request with no credential at all guesses nothing, so it is never counted: it
 * always gets the 401, and costs no rate-limit round trip.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { credentialsFor } from '../db/api-key-cache.ts';
import { type KeyCredentials, stampLastUsed } from '../db/api-keys.ts';
import { ApiError } from '../errors.ts';
import { checkApiKeyFormat, containsApiKey, hashApiKey } from '../lib/api-key.ts';
import { setBounded } from '../lib/bounded-map.ts';
import { clientIp, hashIp } from '../lib/client-ip.ts';
import { isoAfter, nowIso } from '../lib/clock.ts';
import { requestUrlParts } from '../lib/request-url.ts';
import type { Scope } from '../schemas/scopes.ts';
import { enforceRateLimit } from './rate-limit.ts';

export const WWW_AUTHENTICATE = 'Bearer realm="switchyard"';
const BEARER = /^Bearer ([^\s]+)$/i;
const LAST_USED_RESOLUTION_MS = 60_000;

// Per isolate: when each key's last use was last stamped, so most requests skip the write. Bounded
// like the key cache: a key pushed out is at worst stamped once more.
const lastStamped = new Map<string, number>();
const MAX_STAMPED_KEYS = 1_000;

const MISSING_KEY = 'A valid API key is required: send `Authorization: Bearer <key>`.';

/**
 * Why a credential was refused: only the security event says (the client gets one answer for all).
 * `missing_key` is the one a caller without a key gets; the others presented something.
 */
type AuthFailure =
  | 'missing_key'
  | 'key_in_query'
  | 'malformed_key'
  | 'unknown_key'
  | 'revoked_key'
  | 'organization_erased'
  | 'expired_key'
  | 'demo_key_in_production';

function unauthorized(detail: string, reason: AuthFailure, ipHash?: string): ApiError {
  return new ApiError('unauthorized', {
    detail,
    headers: { 'WWW-Authenticate': WWW_AUTHENTICATE },
    security: { reason, details: { ip_hash: ipHash } },
  });
}

/** Refuses a credential that was presented, counting it as a guess from the client's IP. */
async function refuseGuess(c: Context<AppEnv>, reason: AuthFailure, detail = MISSING_KEY): Promise<never> {
  const config = c.get('config');
  const ip = await hashIp(clientIp(c.req.raw), config.sessionJwtSecret);
  // Brute-force guard: throws 429 once this IP has failed too often. One token per lease: failures
  // are rare and spread over many IPs, so leasing more would only strand tokens.
  await enforceRateLimit(c, `auth-failures:${ip}`, 'auth-failures', config.authFailureLimit, 1);
  throw unauthorized(detail, reason, ip);
}

function failureOf(credentials: KeyCredentials | undefined, now: string, production: boolean): AuthFailure | undefined {
  if (!credentials) return 'unknown_key';
  if (credentials.revokedAt !== null) return 'revoked_key';
  // Its keys are revoked in the erasure's batch too; this also refuses one a racing request created.
  if (credentials.organizationErased) return 'organization_erased';
  if (credentials.expiresAt !== null && credentials.expiresAt <= now) return 'expired_key';
  if (credentials.isDemo && production) return 'demo_key_in_production';
  return undefined;
}

function stampInBackground(c: Context<AppEnv>, keyId: string, lastUsedAt: string | null): void {
  const now = Date.now();
  const stamped = Math.max(lastStamped.get(keyId) ?? 0, lastUsedAt ? Date.parse(lastUsedAt) : 0);
  if (now - stamped < LAST_USED_RESOLUTION_MS) return;
  setBounded(lastStamped, keyId, now, MAX_STAMPED_KEYS);
  const { db } = c.get('config');
  const statement = stampLastUsed(db, keyId, nowIso(), isoAfter(-LAST_USED_RESOLUTION_MS));
  c.executionCtx.waitUntil(
    statement.run().then(
      () => undefined,
      (error: unknown) => c.get('logger').warn('could not stamp last_used_at', { key_id: keyId, error }),
    ),
  );
}

/**
 * @example
 * ```ts
 * createRoute({ ..., middleware: [authenticate()] })  // defineRoute adds it to every route with a `scope`
 * ```
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    const { search } = requestUrlParts(c.req.url);
    if (containsApiKey(decodeURIComponent(search)) || /[?&](api[-_]?key|apikey)=/i.test(search)) {
      await refuseGuess(c, 'key_in_query', 'API keys are not accepted in the query string: send `Authorization: Bearer <key>`.');
    }
    const authorization = c.req.header('Authorization');
    if (authorization === undefined) throw unauthorized(MISSING_KEY, 'missing_key');
    const secret = BEARER.exec(authorization)?.[1];
    // The checksum refuses typos and made-up keys without a database read.
    if (secret === undefined || checkApiKeyFormat(secret) === undefined) return refuseGuess(c, 'malformed_key');
    const config = c.get('config');
    // While D1 is down a cached key keeps working until its TTL; the failed refresh is only logged.
    const refreshLater = (refresh: Promise<unknown>) =>
      c.executionCtx.waitUntil(refresh.catch((error: unknown) => c.get('logger').warn('could not refresh a cached API key', { error })));
    // From the primary, not the request's read session: a key created a moment ago works at once and
    // a revoked one stops within the cache's TTL, whatever a replica's lag. Only a miss or a refresh
    // reads it, so this costs a replica's nearness once per key per isolate per TTL.
    const lookup = await credentialsFor(c.get('primaryDb'), await hashApiKey(secret), refreshLater);
    c.get('meter').cache = lookup.cache;
    const credentials = lookup.credentials;
    const failure = failureOf(credentials, nowIso(), config.production);
    const telemetry = c.get('telemetry');
    // A revoked or expired key is still someone's: its organisation sees the attempts in its metrics.
    telemetry.orgId = credentials?.orgId;
    telemetry.keyId = credentials?.keyId;
    if (failure !== undefined || credentials === undefined) return refuseGuess(c, failure ?? 'unknown_key');
    c.set('auth', {
      orgId: credentials.orgId,
      keyId: credentials.keyId,
      mode: credentials.mode,
      scopes: credentials.scopes,
      expiresAt: credentials.expiresAt,
      plan: credentials.plan,
      limits: credentials.limits,
      requireSignedRequests: credentials.requireSignedRequests,
      apiVersion: credentials.apiVersion,
    });
    stampInBackground(c, credentials.keyId, credentials.lastUsedAt);
    await next();
  };
}

/** 403 naming the missing scope, per RFC 6750's `insufficient_scope`. */
export function requireScope(scope: Scope): MiddlewareHandler<AppEnv> {
  return async function requireScope(c, next) {
    if (!c.get('auth').scopes.includes(scope)) {
      throw new ApiError('insufficient_scope', {
        detail: `This API key lacks the \`${scope}\` scope.`,
        headers: { 'WWW-Authenticate': `${WWW_AUTHENTICATE}, error="insufficient_scope", scope="${scope}"` },
        security: { reason: 'missing_scope', details: { scope } },
      });
    }
    await next();
  };
}
