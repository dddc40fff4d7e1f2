/**
 * @module
 * The `device_connections` table: which sessions a device has connected to, so that disabling or
 * deleting the device can reach the rooms that may hold its sockets, and erasing it the rooms that
 * may hold its messages (so a row is kept until its session's messages are purged).
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
 * Deletes up to {@link DEVICE_CONNECTION_PURGE_BATCH_ROWS} rows of sessions whose messages the
 * retention run has purged (a day after they ended: until then the room still holds the device's
 * messages, which erasing the device must reach); run from the scheduled handler. It walks this
 * table (kept small by the purge) and looks each session up, rather than walking every session
 * ever made. Returns how many were deleted.
 */
export async function purgeEndedDeviceConnections(db: D1Database): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM device_connections WHERE rowid IN (
         SELECT c.rowid FROM device_connections AS c JOIN sessions AS s ON s.id = c.session_id
          WHERE s.messages_purged_at IS NOT NULL
          LIMIT ?1)`,
    )
    .bind(DEVICE_CONNECTION_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}

/**
 * Up to `limit` of the sessions the device has connected to, ended or not, for the erasure of its
 * messages (each page is deleted, by {@link deleteDeviceConnections}, before the next is read).
 */
export async function sessionsOfDevice(db: D1Database, orgId: string, deviceId: string, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare('SELECT session_id FROM device_connections WHERE device_id = ?1 AND org_id = ?2 ORDER BY session_id LIMIT ?3')
    .bind(deviceId, orgId, limit)
    .all<{ session_id: string }>();
  return results.map((row) => row.session_id);
}

/** Forgets that the device connected to these sessions, once its messages are erased from their rooms. */
export function deleteDeviceConnections(
  db: D1Database,
  orgId: string,
  deviceId: string,
  sessionIds: readonly string[],
): D1PreparedStatement {
  return db
    .prepare('DELETE FROM device_connections WHERE device_id = ?1 AND org_id = ?2 AND session_id IN (SELECT value FROM json_each(?3))')
    .bind(deviceId, orgId, JSON.stringify(sessionIds));
}

/** Every row of these sessions, for the erasure of their organisation (db/organization-erasure.ts). */
export function deleteConnectionsOfSessions(db: D1Database, sessionIds: readonly string[]): D1PreparedStatement {
  return db
    .prepare('DELETE FROM device_connections WHERE session_id IN (SELECT value FROM json_each(?1))')
    .bind(JSON.stringify(sessionIds));
}
