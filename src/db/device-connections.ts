/**
 * @module
 * The `device_connections` table: which sessions a device has connected to, so that disabling or
 * deleting the device can reach the rooms that may hold its sockets.
 */

/**
 * Records that the device connects to the session, if both are the organisation's and the device is active;
 * put at the head of the connect route's batch, which then reads the device in the same transaction.
 */
export function recordDeviceConnection(
  db: D1Database,
  connection: { orgId: string; deviceId: string; sessionId: string; at: string },
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO device_connections (org_id, device_id, session_id, connected_at)
       SELECT ?1, ?2, ?3, ?4
        WHERE EXISTS (SELECT 1 FROM devices WHERE org_id = ?1 AND id = ?2 AND status = 'active')
          AND EXISTS (SELECT 1 FROM sessions WHERE org_id = ?1 AND id = ?3)
       ON CONFLICT (device_id, session_id) DO UPDATE SET connected_at = excluded.connected_at`,
    )
    .bind(connection.orgId, connection.deviceId, connection.sessionId, connection.at);
}

/** The sessions, not yet ended at `now`, that the device has connected to. */
export async function openSessionsOfDevice(db: D1Database, orgId: string, deviceId: string, now: string): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT c.session_id FROM device_connections c JOIN sessions s ON s.id = c.session_id AND s.org_id = c.org_id
        WHERE c.org_id = ?1 AND c.device_id = ?2 AND s.ended_at IS NULL AND s.expires_at > ?3`,
    )
    .bind(orgId, deviceId, now)
    .all<{ session_id: string }>();
  return results.map((row) => row.session_id);
}

/** Rows one purge statement deletes at most: small rows, but D1 runs one statement at a time, so kept short. */
export const DEVICE_CONNECTION_PURGE_BATCH_ROWS = 1_000;

/**
 * Deletes up to {@link DEVICE_CONNECTION_PURGE_BATCH_ROWS} rows of sessions that have ended by
 * `now`; run from the scheduled handler. It walks this table (kept small by the purge) and looks
 * each session up, rather than walking every session ever made. Returns how many were deleted.
 */
export async function purgeEndedDeviceConnections(db: D1Database, now: string): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM device_connections WHERE rowid IN (
         SELECT c.rowid FROM device_connections AS c JOIN sessions AS s ON s.id = c.session_id
          WHERE s.ended_at IS NOT NULL OR s.expires_at <= ?1
          LIMIT ?2)`,
    )
    .bind(now, DEVICE_CONNECTION_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}
