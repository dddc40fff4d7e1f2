/**
 * @module
 * The `idempotency_keys` table: one row per (organisation, key), claimed atomically by the first
 * request, completed with the response to replay, or released when the request failed in a way
 * that may be retried. The response body is stored sealed (lib/encryption.ts): it can hold an API
 * key's secret or a connect token. Its status and replayed headers are stored as they are.
 */
import { isUniqueViolation } from './unique-violation.ts';

export interface IdempotencyRecord {
  fingerprint: string;
  state: 'in_flight' | 'completed';
  lockedUntil: string | null;
  responseStatus: number | null;
  responseHeaders: Record<string, string> | null;
  /** The sealed body; null while in flight, or for a row stored before bodies were sealed. */
  sealedBody: string | null;
  expiresAt: string;
}

/**
 * Claims the key for this request. True when this request now owns it: there was no row, or
 * only an expired one, or an in-flight claim whose lock ran out (its request died). SQLite runs
 * the upsert atomically, so of concurrent requests exactly one wins.
 */
export async function claimIdempotencyKey(
  db: D1Database,
  claim: { orgId: string; key: string; fingerprint: string; now: string; lockedUntil: string; expiresAt: string },
): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO idempotency_keys (org_id, key, fingerprint, state, locked_until, created_at, expires_at)
       VALUES (?1, ?2, ?3, 'in_flight', ?5, ?4, ?6)
       ON CONFLICT (org_id, key) DO UPDATE SET
         fingerprint = excluded.fingerprint, state = 'in_flight', locked_until = excluded.locked_until,
         response_status = NULL, response_headers = NULL, response_body = NULL,
         created_at = excluded.created_at, expires_at = excluded.expires_at
       WHERE idempotency_keys.expires_at <= ?4
          OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= ?4 AND idempotency_keys.fingerprint = excluded.fingerprint)`,
    )
    .bind(claim.orgId, claim.key, claim.fingerprint, claim.now, claim.lockedUntil, claim.expiresAt)
    .run();
  return result.meta.changes === 1;
}

export async function getIdempotencyRecord(db: D1Database, orgId: string, key: string): Promise<IdempotencyRecord | undefined> {
  const row = await db
    .prepare(
      'SELECT fingerprint, state, locked_until, response_status, response_headers, response_body, expires_at FROM idempotency_keys WHERE org_id = ?1 AND key = ?2',
    )
    .bind(orgId, key)
    .first<{
      fingerprint: string;
      state: 'in_flight' | 'completed';
      locked_until: string | null;
      response_status: number | null;
      response_headers: string | null;
      response_body: string | null;
      expires_at: string;
    }>();
  if (!row) return undefined;
  return {
    fingerprint: row.fingerprint,
    state: row.state,
    lockedUntil: row.locked_until,
    responseStatus: row.response_status,
    responseHeaders: row.response_headers === null ? null : (JSON.parse(row.response_headers) as Record<string, string>),
    sealedBody: row.response_body,
    expiresAt: row.expires_at,
  };
}

export async function completeIdempotencyKey(db: D1Database, orgId: string, key: string, response: SavedResponse): Promise<void> {
  await db
    .prepare(
      `UPDATE idempotency_keys SET state = 'completed', locked_until = NULL, response_status = ?3, response_headers = ?4, response_body = ?5
        WHERE org_id = ?1 AND key = ?2`,
    )
    .bind(orgId, key, response.status, JSON.stringify(response.headers), response.sealedBody)
    .run();
}

export interface SavedResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as lib/encryption.ts seals it; never the body itself. */
  sealedBody: string;
}

/**
 * The INSERT that records a completed result, in the handler's own batch (so the change and its
 * record commit together or not at all). It fails with a UNIQUE violation — rolling the whole batch
 * back — when a row holds the key; {@link forgetExpiredKey} then tells whether that row had
 * expired, so the batch can run again. With `onlyIfChanged` it writes nothing unless the statement
 * just before it in the batch changed a row (SQLite's `changes()`): the record of a conditional
 * change exists only if the change was made.
 */
export function recordResultStatement(
  db: D1Database,
  record: { orgId: string; key: string; fingerprint: string; now: string; expiresAt: string; response: SavedResponse },
  options: { onlyIfChanged?: boolean } = {},
): D1PreparedStatement {
  const values = `?1, ?2, ?3, 'completed', NULL, ?4, ?5, ?6, ?7, ?8`;
  return db
    .prepare(
      `INSERT INTO idempotency_keys (org_id, key, fingerprint, state, locked_until, response_status, response_headers, response_body, created_at, expires_at)
       ${options.onlyIfChanged ? `SELECT ${values} WHERE changes() > 0` : `VALUES (${values})`}`,
    )
    .bind(
      record.orgId,
      record.key,
      record.fingerprint,
      record.response.status,
      JSON.stringify(record.response.headers),
      record.response.sealedBody,
      record.now,
      record.expiresAt,
    );
}

/** Deletes the key's row if it has expired; true when it did (the key is free again). */
export async function forgetExpiredKey(db: D1Database, orgId: string, key: string, now: string): Promise<boolean> {
  const result = await db
    .prepare('DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND expires_at <= ?3')
    .bind(orgId, key, now)
    .run();
  return result.meta.changes === 1;
}

/** Whether a batch failed because recordResultStatement found the key taken. */
export function isIdempotencyKeyTaken(error: unknown): boolean {
  return isUniqueViolation(error, 'idempotency_keys', ['org_id', 'key']);
}

/** Forgets an in-flight claim so the same key can be retried (the request failed before doing anything durable). */
export async function releaseIdempotencyKey(db: D1Database, orgId: string, key: string): Promise<void> {
  await db.prepare("DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND state = 'in_flight'").bind(orgId, key).run();
}

/**
 * Rows one purge statement deletes at most. D1 runs one statement at a time per database, so a
 * delete holds up every request's query while it runs: 1,000 rows (each with a sealed body and two
 * index entries) took ~35 ms in a file-backed SQLite with 3 KB bodies (under 10 ms of it CPU).
 */
export const IDEMPOTENCY_PURGE_BATCH_ROWS = 1_000;

/**
 * Deletes up to {@link IDEMPOTENCY_PURGE_BATCH_ROWS} expired rows, found by `idempotency_keys_by_expiry`
 * (SQLite in D1 has no DELETE … LIMIT); run from the scheduled handler. Returns how many were deleted.
 */
export async function purgeExpiredIdempotencyKeys(db: D1Database, now: string): Promise<number> {
  const result = await db
    .prepare('DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2)')
    .bind(now, IDEMPOTENCY_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}
