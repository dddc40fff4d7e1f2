/**
 * @module
 * Every row an organisation has, table by table: the one list of what its erasure deletes
 * (src/workflows/erasure.ts runs it). A test reads every table of the migrated database that has an
 * `org_id` column and fails when one is in neither {@link ERASED_TABLES} nor {@link KEPT_TABLES}, so a
 * table added later cannot be forgotten here.
 *
 * Each statement deletes at most `limit` rows found through an index on `org_id` (one range of it),
 * so a statement is short whatever the organisation's size (D1 runs one statement at a time per
 * database: a long one holds up every request's query) and can be repeated: what it finds the
 * second time is what the first left.
 */

import * as deviceConnections from './device-connections.ts';
import * as sessionKeyGrants from './session-key-grants.ts';
import * as sessions from './sessions.ts';

/** A table whose rows refer to the organisation, and the DELETE of up to `limit` of them. */
export interface TableErasure {
  table: string;
  deleteBatch: (db: D1Database, orgId: string, limit: number) => D1PreparedStatement;
}

/**
 * The tables deleted once the sessions are gone (see {@link sessionPage}), children before the rows
 * they refer to: D1 enforces foreign keys, and the organisation's own row goes last.
 */
export const ORGANIZATION_TABLES: readonly TableErasure[] = [
  {
    table: 'webhook_attempts',
    deleteBatch: (db, orgId, limit) =>
      db
        .prepare('DELETE FROM webhook_attempts WHERE rowid IN (SELECT rowid FROM webhook_attempts WHERE org_id = ?1 LIMIT ?2)')
        .bind(orgId, limit),
  },
  {
    table: 'webhook_deliveries',
    deleteBatch: (db, orgId, limit) =>
      db
        .prepare('DELETE FROM webhook_deliveries WHERE rowid IN (SELECT rowid FROM webhook_deliveries WHERE org_id = ?1 LIMIT ?2)')
        .bind(orgId, limit),
  },
  {
    table: 'events',
    deleteBatch: (db, orgId, limit) =>
      db.prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE org_id = ?1 LIMIT ?2)').bind(orgId, limit),
  },
  {
    table: 'webhook_endpoints',
    deleteBatch: (db, orgId, limit) =>
      db
        .prepare('DELETE FROM webhook_endpoints WHERE rowid IN (SELECT rowid FROM webhook_endpoints WHERE org_id = ?1 LIMIT ?2)')
        .bind(orgId, limit),
  },
  {
    table: 'audit_events',
    deleteBatch: (db, orgId, limit) =>
      db.prepare('DELETE FROM audit_events WHERE rowid IN (SELECT rowid FROM audit_events WHERE org_id = ?1 LIMIT ?2)').bind(orgId, limit),
  },
  {
    table: 'idempotency_keys',
    deleteBatch: (db, orgId, limit) =>
      db
        .prepare('DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE org_id = ?1 LIMIT ?2)')
        .bind(orgId, limit),
  },
  {
    table: 'device_erasures',
    deleteBatch: (db, orgId, limit) =>
      db
        .prepare('DELETE FROM device_erasures WHERE rowid IN (SELECT rowid FROM device_erasures WHERE org_id = ?1 LIMIT ?2)')
        .bind(orgId, limit),
  },
  {
    table: 'devices',
    deleteBatch: (db, orgId, limit) =>
      db.prepare('DELETE FROM devices WHERE rowid IN (SELECT rowid FROM devices WHERE org_id = ?1 LIMIT ?2)').bind(orgId, limit),
  },
  {
    table: 'api_keys',
    deleteBatch: (db, orgId, limit) =>
      db.prepare('DELETE FROM api_keys WHERE rowid IN (SELECT rowid FROM api_keys WHERE org_id = ?1 LIMIT ?2)').bind(orgId, limit),
  },
];

/** The tables a page of sessions is deleted from, with their rooms: {@link deleteSessions}. */
export const SESSION_TABLES = ['device_connections', 'session_key_grants', 'sessions'] as const;

/** Every table the erasure deletes the organisation's rows from, its own row last. */
export const ERASED_TABLES: readonly string[] = [...SESSION_TABLES, ...ORGANIZATION_TABLES.map((entry) => entry.table), 'organizations'];

/** Tables with an `org_id` that the erasure keeps: the tombstone, which is what remains. */
export const KEPT_TABLES: readonly string[] = ['organization_tombstones'];

/** The ids of up to `limit` of the organisation's sessions (whichever come first: each page is deleted before the next is read). */
export async function sessionPage(db: D1Database, orgId: string, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare('SELECT id FROM sessions WHERE org_id = ?1 ORDER BY created_at, id LIMIT ?2')
    .bind(orgId, limit)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

/** The sessions' rows and the rows that refer to them ({@link SESSION_TABLES}), as one batch: run once their rooms are erased. */
export function deleteSessions(db: D1Database, orgId: string, sessionIds: readonly string[]): D1PreparedStatement[] {
  return [
    deviceConnections.deleteConnectionsOfSessions(db, sessionIds),
    sessionKeyGrants.deleteGrantsOfSessions(db, sessionIds),
    sessions.deleteSessions(db, orgId, sessionIds),
  ];
}
