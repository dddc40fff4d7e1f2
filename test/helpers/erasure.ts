/**
 * What an organisation holds, counted everywhere it can be: every D1 table with an `org_id` column
 * (read from the migrated database, so a table added later is counted too), its organisation row,
 * its tombstone, each of its sessions' room storage (rows of every table of the room's SQLite, and
 * its alarm) and its export archives in R2. The erasure tests compare these before and after.
 */
import { introspectWorkflowInstance, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { onTestFinished } from 'vitest';
import type { SessionRoom } from '../../src/durable-objects/session-room.ts';
import { archivePrefix } from '../../src/workflows/erasure.ts';
import { type ErasureParams, erasureInstanceId } from '../../src/workflows/start-erasure.ts';

/** The D1 tables with an `org_id` column, from the migrated test database's own schema. */
export async function tablesWithOrgId(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    `SELECT m.name AS name FROM sqlite_master AS m
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_cf_%'
        AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) AS c WHERE c.name = 'org_id')
      ORDER BY m.name`,
  ).all<{ name: string }>();
  return results.map((row) => row.name);
}

/** Rows of the organisation, by table (`organizations` is its own row). */
export async function rowCounts(orgId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await tablesWithOrgId()) {
    // The table name comes from sqlite_master, not from any input.
    const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${table}" WHERE org_id = ?1`).bind(orgId).first<{ n: number }>();
    counts[table] = row?.n ?? 0;
  }
  const own = await env.DB.prepare('SELECT COUNT(*) AS n FROM organizations WHERE id = ?1').bind(orgId).first<{ n: number }>();
  counts.organizations = own?.n ?? 0;
  return counts;
}

/** What a room's storage holds: rows of each of its SQLite tables, and whether it has an alarm. */
export async function roomStorage(sessionId: string): Promise<{ rows: Record<string, number>; alarm: number | null }> {
  const namespace = env.SESSION_ROOM as unknown as DurableObjectNamespace<SessionRoom>;
  const stub = namespace.get(namespace.idFromName(sessionId));
  return runInDurableObject(stub, async (_instance, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
      )
      .toArray();
    const rows: Record<string, number> = {};
    for (const { name } of tables) rows[name] = state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`).one().n;
    return { rows, alarm: await state.storage.getAlarm() };
  });
}

/** Rows held across the rooms of these sessions, and how many of them have an alarm. */
export async function roomTotals(sessionIds: readonly string[]): Promise<{ rows: number; alarms: number }> {
  let rows = 0;
  let alarms = 0;
  for (const sessionId of sessionIds) {
    const storage = await roomStorage(sessionId);
    rows += Object.values(storage.rows).reduce((sum, n) => sum + n, 0);
    if (storage.alarm !== null) alarms += 1;
  }
  return { rows, alarms };
}

/** The organisation's objects in the exports bucket. */
export async function archiveCount(orgId: string): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const listed = await env.EXPORTS.list({ prefix: archivePrefix(orgId), ...(cursor === undefined ? {} : { cursor }) });
    count += listed.objects.length;
    cursor = listed.truncated ? listed.cursor : undefined;
  } while (cursor !== undefined);
  return count;
}

/**
 * The erasure job's instance, introspected before it is created (the request starts it): retry
 * delays off, so a failed step is retried at once. Disposed when the test finishes.
 */
export async function watchErasure(params: ErasureParams) {
  const instance = await introspectWorkflowInstance(env.ERASURE, erasureInstanceId(params));
  onTestFinished(() => instance.dispose());
  await instance.modify(async (modifier) => {
    await modifier.disableRetryDelays();
  });
  return instance;
}
