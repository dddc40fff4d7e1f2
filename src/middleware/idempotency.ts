/**
 * @module
 * Idempotency keys with Stripe / IETF draft (draft-ietf-httpapi-idempotency-key-header) semantics,
 * per organisation, kept 24 hours:
 * - the first request with a key claims it atomically and runs; its response is saved;
 * - a retry with the same key and the same request replays the saved status, headers and body
 *   with `Idempotent-Replayed: true`;
 * - the same key with a different request (method, path or body) → 422 `idempotency_key_reused`;
 * - while the first is still running → 409 `idempotency_key_in_use` with `Retry-After`.
 * A request that fails validation (400), is rate limited (429) or fails on our side (5xx) saves
 * nothing, so the same key can be retried: handlers make their change in one D1 batch, last, so a
 * 5xx means no change was made.
 *
 * It wraps the handler rather than running as middleware so that it runs after validation.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import { claimIdempotencyKey, completeIdempotencyKey, getIdempotencyRecord, releaseIdempotencyKey } from '../db/idempotency-keys.ts';
import { ApiError, renderProblem } from '../errors.ts';
import { isoAfter, nowIso } from '../lib/clock.ts';
import { sha256Hex } from '../lib/encoding.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a claim holds before it counts as abandoned (the Worker died mid-request). */
const CLAIM_LOCK_MS = 60_000;
const IN_FLIGHT_RETRY_AFTER_SECONDS = 1;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'];
const NOT_SAVED = new Set([400, 429]);

async function fingerprint(c: Context<AppEnv>): Promise<string> {
  const url = new URL(c.req.url);
  const body = await c.req.text();
  return sha256Hex(`${c.req.method}\n${url.pathname}${url.search}\n${body}`);
}

async function replayOrRefuse(c: Context<AppEnv>, orgId: string, key: string, requestFingerprint: string): Promise<Response> {
  const record = await getIdempotencyRecord(c.get('config').db, orgId, key);
  if (record && record.fingerprint !== requestFingerprint) {
    throw new ApiError('idempotency_key_reused', {
      detail: 'This Idempotency-Key was already used with a different request; use a new key for a new request.',
    });
  }
  if (!record || record.state === 'in_flight' || record.responseStatus === null) {
    throw new ApiError('idempotency_key_in_use', {
      detail: 'A request with this Idempotency-Key is still in progress; retry after it finishes.',
      headers: { 'Retry-After': String(IN_FLIGHT_RETRY_AFTER_SECONDS) },
    });
  }
  for (const [name, value] of Object.entries(record.responseHeaders ?? {})) c.header(name, value);
  c.header('Idempotent-Replayed', 'true');
  return c.body(record.responseBody ?? '', record.responseStatus as 200);
}

/**
 * Wraps a route handler with idempotency-key handling; a request without the header runs as is.
 *
 * @example
 * ```ts
 * app.openapi(route, withIdempotency(handler))  // openapiRoute() does this for routes defined with `idempotent: true`
 * ```
 */
export function withIdempotency<H extends (c: Context<AppEnv>, next: () => Promise<void>) => unknown>(handler: H): H {
  const wrapped = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    const key = c.req.header('Idempotency-Key');
    if (key === undefined) return handler(c, next);
    const { orgId } = c.get('auth');
    const { db } = c.get('config');
    const requestFingerprint = await fingerprint(c);
    const now = new Date();
    const claimed = await claimIdempotencyKey(db, {
      orgId,
      key,
      fingerprint: requestFingerprint,
      now: nowIso(),
      lockedUntil: isoAfter(CLAIM_LOCK_MS, now),
      expiresAt: isoAfter(IDEMPOTENCY_TTL_MS, now),
    });
    if (!claimed) return replayOrRefuse(c, orgId, key, requestFingerprint);

    let response: Response;
    try {
      response = (await handler(c, next)) as Response;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500 || NOT_SAVED.has(error.status)) {
        await releaseIdempotencyKey(db, orgId, key);
        throw error;
      }
      // A refusal by the handler itself (404, 409, …) is the request's result: saved and replayed like a success.
      response = renderProblem(c, error);
    }
    if (response.status >= 500 || NOT_SAVED.has(response.status)) {
      await releaseIdempotencyKey(db, orgId, key);
      return response;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    await completeIdempotencyKey(db, orgId, key, { status: response.status, headers, body: await response.clone().text() });
    return response;
  };
  return wrapped as H;
}
