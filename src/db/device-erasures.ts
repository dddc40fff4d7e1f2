/**
 * @module
 * The `device_erasures` table: devices deleted with `erase=true` whose messages the erasure job
 * (src/workflows/erasure.ts) has still to remove from their sessions' rooms. A row is written in
 * the deletion's batch and deleted by the job when it is done, so one whose job never started is
 * found by the hourly run.
 */

/** The row, for the deletion's batch: written only if the statement before it (the device's DELETE) changed a row. */
export function insertDeviceErasure(db: D1Database, orgId: string, deviceId: string, at: string): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO device_erasures (org_id, device_id, requested_at) SELECT ?1, ?2, ?3 WHERE changes() > 0
       ON CONFLICT (org_id, device_id) DO NOTHING`,
    )
    .bind(orgId, deviceId, at);
}

export interface PendingDeviceErasure {
  orgId: string;
  deviceId: string;
}

/** Device erasures requested before `before` and not yet done, oldest first. */
export async function pendingDeviceErasures(db: D1Database, before: string, limit: number): Promise<PendingDeviceErasure[]> {
  const { results } = await db
    .prepare('SELECT org_id, device_id FROM device_erasures WHERE requested_at < ?1 ORDER BY requested_at LIMIT ?2')
    .bind(before, limit)
    .all<{ org_id: string; device_id: string }>();
  return results.map((row) => ({ orgId: row.org_id, deviceId: row.device_id }));
}

export function deleteDeviceErasure(db: D1Database, orgId: string, deviceId: string): D1PreparedStatement {
  return db.prepare('DELETE FROM device_erasures WHERE org_id = ?1 AND device_id = ?2').bind(orgId, deviceId);
}
