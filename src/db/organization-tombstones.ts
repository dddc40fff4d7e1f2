/**
 * @module
 * The `organization_tombstones` table: what remains of an erased organisation (its id, when, and
 * the key that asked), so the erasure itself can be shown to have happened. Never deleted.
 */

export interface Tombstone {
  orgId: string;
  erasedAt: string;
  erasedByKeyId: string;
}

/**
 * The tombstone's INSERT, for the erasure's batch: written only if the organisation is marked erased
 * at `erasedAt`. `OR IGNORE`: a concurrent duplicate can carry the same millisecond (a Worker's clock
 * stands still between I/O), so its EXISTS holds too, and it must change nothing rather than fail.
 */
export function insertTombstone(db: D1Database, tombstone: Tombstone): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO organization_tombstones (org_id, erased_at, erased_by_key_id)
       SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM organizations WHERE id = ?1 AND erased_at = ?2)`,
    )
    .bind(tombstone.orgId, tombstone.erasedAt, tombstone.erasedByKeyId);
}
