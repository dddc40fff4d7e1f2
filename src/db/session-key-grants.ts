/**
 * @module
 * The `session_key_grants` table: which sessions an API key has minted connect tokens for, so that
 * revoking the key can reach the rooms that may hold sockets opened with them.
 */

/**
 * Records that the key minted a token for the session, reaching into it until `expiresAt` (the
 * session's expiry: a socket opened with the token may stay open that long); put in the batch of the
 * token's audit event. A later token never shortens the reach.
 */
export function recordSessionKeyGrant(
  db: D1Database,
  grant: { orgId: string; apiKeyId: string; sessionId: string; expiresAt: string },
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO session_key_grants (org_id, api_key_id, session_id, expires_at) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (org_id, api_key_id, session_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
    )
    .bind(grant.orgId, grant.apiKeyId, grant.sessionId, grant.expiresAt);
}

/** The sessions, not yet ended at `now`, that the key has minted tokens for. */
export async function openSessionsOfApiKey(db: D1Database, orgId: string, apiKeyId: string, now: string): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT g.session_id FROM session_key_grants g JOIN sessions s ON s.id = g.session_id AND s.org_id = g.org_id
        WHERE g.org_id = ?1 AND g.api_key_id = ?2 AND g.expires_at > ?3 AND s.ended_at IS NULL`,
    )
    .bind(orgId, apiKeyId, now)
    .all<{ session_id: string }>();
  return results.map((row) => row.session_id);
}

/** Rows one purge statement deletes at most: small rows, but D1 runs one statement at a time, so kept short. */
export const SESSION_KEY_GRANT_PURGE_BATCH_ROWS = 1_000;

/**
 * Deletes up to {@link SESSION_KEY_GRANT_PURGE_BATCH_ROWS} grants past their `expires_at` at `now`
 * (their session is over, so no socket is left to close); run from the scheduled handler. Returns
 * how many were deleted.
 */
export async function purgeExpiredSessionKeyGrants(db: D1Database, now: string): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM session_key_grants WHERE rowid IN (
         SELECT rowid FROM session_key_grants WHERE expires_at <= ?1 LIMIT ?2)`,
    )
    .bind(now, SESSION_KEY_GRANT_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}

/** Every grant into these sessions, for the erasure of their organisation (db/organization-erasure.ts). */
export function deleteGrantsOfSessions(db: D1Database, sessionIds: readonly string[]): D1PreparedStatement {
  return db
    .prepare('DELETE FROM session_key_grants WHERE session_id IN (SELECT value FROM json_each(?1))')
    .bind(JSON.stringify(sessionIds));
}
