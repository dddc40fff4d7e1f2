/**
 * @module
 * The `signature_nonces` table: the nonce of every signature the API accepted, per organisation,
 * until the signature could no longer be accepted anyway. A nonce found here is a replay.
 */

/**
 * Records a nonce. `changes` is 1 when it is new (or its earlier row had expired, and the hourly
 * purge had not yet deleted it), 0 when the organisation's signature with this nonce is still
 * within its window: a replay.
 */
export function recordNonce(db: D1Database, orgId: string, nonce: string, expiresAt: string, now: string): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO signature_nonces (org_id, nonce, expires_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (org_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE signature_nonces.expires_at <= ?4`,
    )
    .bind(orgId, nonce, expiresAt, now);
}

/**
 * Rows one purge statement deletes at most, as for the other purged tables: a batch stays a few
 * milliseconds of D1 time, so requests waiting behind it barely notice.
 */
export const SIGNATURE_NONCE_PURGE_BATCH_ROWS = 1_000;

/** Deletes up to {@link SIGNATURE_NONCE_PURGE_BATCH_ROWS} expired nonces, found by `signature_nonces_by_expiry`. */
export async function purgeExpiredNonces(db: D1Database, now: string): Promise<number> {
  const result = await db
    .prepare('DELETE FROM signature_nonces WHERE rowid IN (SELECT rowid FROM signature_nonces WHERE expires_at <= ?1 LIMIT ?2)')
    .bind(now, SIGNATURE_NONCE_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}
