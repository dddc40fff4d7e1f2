/**
 * @module
 * Idempotency keys with Stripe / IETF draft (draft-ietf-httpapi-idempotency-key-header) semantics,
 * per organisation, kept 24 hours:
 * - the first request with a key runs and its response is saved;
 * - a retry with the same key and the same request replays the saved status, headers and body
 *   with `Idempotent-Replayed: true`;
 * - the same key with a different request (method, path or body), or from a different API key
 *   → 422 `idempotency_key_reused`: a record answers only the key that made it, so a replay never
 *   hands a response (a secret, a token) to a caller other than the one it was made for;
 * - a saved response that cannot be decrypted (its secret is no longer configured, or the row was
 *   altered) → 409 `idempotency_record_unreadable`: never a 500, never the stored bytes.
 * Saved bodies are sealed with AES-GCM (lib/encryption.ts), bound to their organisation and key.
 * A route's own authorisation checks (RouteAuthorizer) run before this wrapper, so before a replay.
 * A request that fails validation (400), is rate limited (429) or fails on our side (5xx) saves
 * nothing, so the same key can be retried: handlers make their change in one D1 batch, last, so a
 * 5xx means no change was made.
 *
 * Two ways to hold the key, chosen per route:
 * - `claim`: the first request claims the key atomically before the handler runs (another request
 *   meanwhile gets 409 `idempotency_key_in_use`), and its response is saved after. For routes whose
 *   effect is not only their D1 batch (a broadcast, a Durable Object told to end a session).
 * - `atomic`: nothing is written before the handler; it passes its change and its answer to
 *   {@link batchChange} (through routes/commit.ts), which saves the answer in the same D1 batch, so
 *   the change and its record commit together or not at all. Of concurrent requests with one key,
 *   the first batch to commit wins and the others replay its response. One D1 round trip instead of
 *   three: the create benchmark's budget needs it. The rule for every route whose change is D1 only.
 *
 * It wraps the handler rather than running as middleware so that it runs after validation.
 */
import type { Context } from 'hono';
import type { AppEnv, PendingIdempotency } from '../context.ts';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  forgetExpiredKey,
  getIdempotencyRecord,
  isIdempotencyKeyTaken,
  recordResultStatement,
  releaseIdempotencyKey,
  type SavedResponse,
} from '../db/idempotency-keys.ts';
import { ApiError, renderProblem } from '../errors.ts';
import { isoAfter, nowIso } from '../lib/clock.ts';
import { sha256Hex } from '../lib/encoding.ts';
import { open, seal, storageKeyring } from '../lib/encryption.ts';
import { requestUrlParts } from '../lib/request-url.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a claim holds before it counts as abandoned (the Worker died mid-request). */
const CLAIM_LOCK_MS = 60_000;
const IN_FLIGHT_RETRY_AFTER_SECONDS = 1;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'];
const NOT_SAVED = new Set([400, 429]);

export type IdempotencyMode = 'claim' | 'atomic';

/**
 * Thrown when a result saved for the key is the answer: another request's holds it (batchChange),
 * or this request's change committed though its reply was lost (commit). The wrapper replays it,
 * or refuses when it was saved for a different request.
 */
export class SavedResultAnswers extends Error {}

/** What makes two requests "the same": the calling API key, method, path, query and body. */
async function fingerprint(c: Context<AppEnv>): Promise<string> {
  const url = requestUrlParts(c.req.url);
  const body = await c.req.text();
  return sha256Hex(`${c.get('auth').keyId}\n${c.req.method}\n${url.pathname}${url.search}\n${body}`);
}

/** Where a saved body belongs: sealed for one organisation's key, it opens nowhere else. */
function sealingContext(orgId: string, key: string): string {
  return `idempotency-keys\n${orgId}\n${key}`;
}

function keyringOf(c: Context<AppEnv>) {
  const { current, previous } = c.get('config').storageSecrets;
  return storageKeyring(current, previous);
}

async function replayOrRefuse(c: Context<AppEnv>, orgId: string, key: string, requestFingerprint: string): Promise<Response> {
  const record = await getIdempotencyRecord(c.get('config').db, orgId, key);
  if (record && record.fingerprint !== requestFingerprint) {
    throw new ApiError('idempotency_key_reused', {
      detail: 'This Idempotency-Key was already used with a different request or by a different API key; use a new key for a new request.',
    });
  }
  if (!record || record.state === 'in_flight' || record.responseStatus === null) {
    throw new ApiError('idempotency_key_in_use', {
      detail: 'A request with this Idempotency-Key is still in progress; retry after it finishes.',
      headers: { 'Retry-After': String(IN_FLIGHT_RETRY_AFTER_SECONDS) },
    });
  }
  const body = record.sealedBody === null ? undefined : await open(await keyringOf(c), record.sealedBody, sealingContext(orgId, key));
  if (body === undefined) {
    throw new ApiError('idempotency_record_unreadable', {
      detail:
        'The request with this Idempotency-Key completed, but its saved response can no longer be read; check its effect (e.g. list the resource) before retrying with a new key.',
    });
  }
  for (const [name, value] of Object.entries(record.responseHeaders ?? {})) c.header(name, value);
  c.header('Idempotent-Replayed', 'true');
  // A saved answer without a body (204) replays without one: a null-body status may not carry even ''.
  if (body === '') return c.body(null, record.responseStatus as 204);
  return c.body(body, record.responseStatus as 200);
}

async function toSaved(c: Context<AppEnv>, pending: { orgId: string; key: string }, response: Answer | Response): Promise<SavedResponse> {
  const headers: Record<string, string> = {};
  let body: string;
  if (response instanceof Response) {
    for (const name of REPLAYED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    body = await response.clone().text();
  } else {
    if (response.json !== undefined) headers['content-type'] = 'application/json';
    for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = value;
    body = response.json === undefined ? '' : JSON.stringify(response.json);
  }
  const sealedBody = await seal(await keyringOf(c), body, sealingContext(pending.orgId, pending.key));
  return { status: response.status, headers, sealedBody };
}

/**
 * Runs `statements` in one batch with the INSERT of this request's result: at its head, or, for a
 * conditional change, right after the first statement and only if that changed a row. A row for
 * the key that has expired (the hourly purge has not run yet) is deleted and the batch run once
 * more; a live one means another request's result holds the key.
 */
async function batchWithResult(
  c: Context<AppEnv>,
  pending: PendingIdempotency,
  response: SavedResponse,
  statements: D1PreparedStatement[],
  conditional: boolean,
): Promise<D1Result[]> {
  const { db } = c.get('config');
  // Unconditional: at the head, so a retry whose own statements would now fail (a unique value it
  // took the first time) still finds the key taken first, and replays.
  const at = conditional ? 1 : 0;
  for (let attempt = 0; ; attempt += 1) {
    const now = new Date();
    const record = recordResultStatement(
      db,
      {
        orgId: pending.orgId,
        key: pending.key,
        fingerprint: pending.fingerprint,
        now: now.toISOString(),
        expiresAt: isoAfter(IDEMPOTENCY_TTL_MS, now),
        response,
      },
      { onlyIfChanged: conditional },
    );
    try {
      const results = await db.batch([...statements.slice(0, at), record, ...statements.slice(at)]);
      pending.saved = !conditional || (results[0]?.meta.changes ?? 0) > 0;
      return results.filter((_, index) => index !== at);
    } catch (error) {
      if (!isIdempotencyKeyTaken(error)) throw error;
      if (attempt > 0 || !(await forgetExpiredKey(db, pending.orgId, pending.key, now.toISOString()))) throw new SavedResultAnswers();
    }
  }
}

/**
 * Whether a change whose batch failed the way a lost reply does (the guarded D1's 503 / 504)
 * committed anyway. Under an `atomic` key the result is saved in the change's own batch (for a
 * conditional change, only if it was made), so a completed result for this request means it did.
 * No result proves nothing (a write that timed out may still land), and when the record cannot be
 * read either, nothing is known: both answer false, and the client is told the change may have
 * been made.
 */
export async function committedDespiteFailure(c: Context<AppEnv>, error: unknown): Promise<boolean> {
  const pending = c.get('idempotency');
  if (pending === undefined || !(error instanceof ApiError) || (error.status !== 503 && error.status !== 504)) return false;
  try {
    const record = await getIdempotencyRecord(c.get('config').db, pending.orgId, pending.key);
    // An expired result is an earlier request's, awaiting the hourly purge: it says nothing of this one.
    return record?.fingerprint === pending.fingerprint && record.state === 'completed' && record.expiresAt > nowIso();
  } catch (readError) {
    c.get('logger').warn('could not learn whether a change whose reply was lost committed', { error: readError });
    return false;
  }
}

/** What a handler answers once its change is committed: a status, headers and a JSON body, if any. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
}

/**
 * Runs a handler's change as one D1 batch and returns its statements' results. Under an `atomic`
 * Idempotency-Key, `answer` is saved in the same batch. A `conditional` change is one whose first
 * statement may change nothing (a version or state check), every later statement depending on it
 * (`changes()`, `EXISTS`): its answer is saved only if that statement changed a row.
 */
export async function batchChange(
  c: Context<AppEnv>,
  statements: D1PreparedStatement[],
  answer: Answer,
  conditional: boolean,
): Promise<D1Result[]> {
  const { db } = c.get('config');
  const pending = c.get('idempotency');
  if (pending === undefined) return db.batch(statements);
  return batchWithResult(c, pending, await toSaved(c, pending, answer), statements, conditional);
}

/** The result of a request that ran under an `atomic` key, saved now unless batchChange saved it with the change. */
async function saveAtomicResult(c: Context<AppEnv>, pending: PendingIdempotency, response: Response): Promise<Response> {
  if (pending.saved || response.status >= 500 || NOT_SAVED.has(response.status)) return response;
  try {
    await batchWithResult(c, pending, await toSaved(c, pending, response), [], false);
  } catch (error) {
    if (error instanceof SavedResultAnswers) return replayOrRefuse(c, pending.orgId, pending.key, pending.fingerprint);
    throw error;
  }
  return response;
}

async function runAtomic(c: Context<AppEnv>, run: () => Promise<Response>, pending: PendingIdempotency): Promise<Response> {
  c.set('idempotency', pending);
  let response: Response;
  try {
    response = await run();
  } catch (error) {
    if (error instanceof SavedResultAnswers) return replayOrRefuse(c, pending.orgId, pending.key, pending.fingerprint);
    if (!(error instanceof ApiError) || error.status >= 500 || NOT_SAVED.has(error.status)) throw error;
    // A refusal by the handler itself (404, 409, …) is the request's result: saved and replayed like a success.
    response = renderProblem(c, error);
  }
  return saveAtomicResult(c, pending, response);
}

/**
 * Wraps a route handler with idempotency-key handling; a request without the header runs as is.
 *
 * @example
 * ```ts
 * app.openapi(route, withIdempotency(handler, 'claim'))  // openapiRoute() does this for routes defined with `idempotent`
 * ```
 */
export function withIdempotency<H extends (c: Context<AppEnv>, next: () => Promise<void>) => unknown>(
  handler: H,
  mode: IdempotencyMode,
): H {
  const wrapped = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    const key = c.req.header('Idempotency-Key');
    if (key === undefined) return handler(c, next);
    const { orgId } = c.get('auth');
    const { db } = c.get('config');
    const requestFingerprint = await fingerprint(c);
    if (mode === 'atomic') {
      return runAtomic(c, async () => (await handler(c, next)) as Response, { orgId, key, fingerprint: requestFingerprint, saved: false });
    }
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
    await completeIdempotencyKey(db, orgId, key, await toSaved(c, { orgId, key }, response));
    return response;
  };
  return wrapped as H;
}
