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

/**
 * The tables deleted once the sessions are gone (see {@link sessionPage}), children before the rows
 * they refer to: D1 enforces foreign keys, and the organisation's own row goes last.
 */
export const ORGANIZATION_TABLES = [
  'webhook_attempts',
  'webhook_deliveries',
  'events',
  'webhook_endpoints',
  'audit_events',
  'idempotency_keys',
  'device_erasures',
  'devices',
  'signature_nonces',
  'signing_keys',
  'organization_exports',
  'api_keys',
] as const;

export type OrganizationTable = (typeof ORGANIZATION_TABLES)[number];

/**
 * The DELETE of up to `limit` of the organisation's rows of `table`, found through the table's
 * index on `org_id`. The name is one of {@link ORGANIZATION_TABLES}, never input; each table's
 * statement is planned on its own by test/db/query-plans.test.ts.
 */
export function deleteOrganizationRows(db: D1Database, table: OrganizationTable, orgId: string, limit: number): D1PreparedStatement {
  return db.prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE org_id = ?1 LIMIT ?2)`).bind(orgId, limit);
}

/** The tables a page of sessions is deleted from, with their rooms: {@link deleteSessions}. */
export const SESSION_TABLES = ['device_connections', 'session_key_grants', 'sessions'] as const;

/** Every table the erasure deletes the organisation's rows from, its own row last. */
export const ERASED_TABLES: readonly string[] = [...SESSION_TABLES, ...ORGANIZATION_TABLES, 'organizations'];

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
