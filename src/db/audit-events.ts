/**
 * @module
 * The `audit_events` table. Events are inserted in the same D1 batch as the change they record.
 */
import { BEGINNING_OF_TIME, END_OF_TIME } from '../lib/clock.ts';
import type { CursorPosition } from '../lib/cursor.ts';
import { newId } from '../lib/ids.ts';
import type { AuditAction, AuditTargetType } from '../schemas/audit-events.ts';
import { AUDIT_RETENTION_DAYS } from './organizations.ts';
import { type Page, readPage } from './page.ts';

export interface AuditContext {
  orgId: string;
  actorKeyId: string | null;
  requestId: string;
  ipHash: string | null;
  userAgent: string | null;
}

export interface AuditEventRecord {
  id: string;
  orgId: string;
  actorKeyId: string | null;
  action: AuditAction;
  targetType: AuditTargetType;
  targetId: string;
  requestId: string;
  ipHash: string | null;
  userAgent: string | null;
  createdAt: string;
}

interface AuditEventRow {
  id: string;
  org_id: string;
  actor_key_id: string | null;
  action: AuditAction;
  target_type: AuditTargetType;
  target_id: string;
  request_id: string;
  ip_hash: string | null;
  user_agent: string | null;
  created_at: string;
}

function toRecord(row: AuditEventRow): AuditEventRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    actorKeyId: row.actor_key_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    requestId: row.request_id,
    ipHash: row.ip_hash,
    userAgent: row.user_agent,
    createdAt: row.created_at,
  };
}

export interface AuditedChange {
  action: AuditAction;
  targetType: AuditTargetType;
  targetId: string;
  at: string;
}

/**
 * The INSERT for one event. With `onlyIfChanged`, the row is written only when the statement
 * just before it in the batch changed a row (SQLite's `changes()`), so a no-op leaves no event.
 */
export function insertAuditEvent(
  db: D1Database,
  context: AuditContext,
  change: AuditedChange,
  options: { onlyIfChanged?: boolean } = {},
): D1PreparedStatement {
  const values = '?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10';
  const sql = options.onlyIfChanged
    ? `INSERT INTO audit_events (id, org_id, actor_key_id, action, target_type, target_id, request_id, ip_hash, user_agent, created_at)
       SELECT ${values} WHERE changes() > 0`
    : `INSERT INTO audit_events (id, org_id, actor_key_id, action, target_type, target_id, request_id, ip_hash, user_agent, created_at)
       VALUES (${values})`;
  return db
    .prepare(sql)
    .bind(
      newId('auditEvent'),
      context.orgId,
      context.actorKeyId,
      change.action,
      change.targetType,
      change.targetId,
      context.requestId,
      context.ipHash,
      context.userAgent,
      change.at,
    );
}

export interface AuditEventFilter {
  action?: AuditAction | undefined;
  targetType?: AuditTargetType | undefined;
  targetId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export function listAuditEvents(
  db: D1Database,
  orgId: string,
  filter: AuditEventFilter,
  limit: number,
  after: CursorPosition | undefined,
): Promise<Page<AuditEventRecord>> {
  // Every filter given is an equality SQLite can take an index's prefix from (migration 0014): an
  // action reads audit_events_by_action, one object (type and id) audit_events_by_target, each in the
  // page's order, so a page reads about what it returns. A filter not given is `?n IS NULL`, true of
  // its bound NULL; a type without an id is a plain filter (`+`: a few types share every event).
  // Without table statistics SQLite rates audit_events_by_org's two-sided created_at range above an
  // action's equality and leaves the action a filter over every event: INDEXED BY says which.
  // since and until are bound (open ends as far bounds), so a first page is one range on the index.
  // After a cursor the page must start at the cursor: `+` keeps since a filter there, or SQLite would
  // range from since and walk every row up to the cursor.
  const action = filter.action === undefined ? '?2 IS NULL' : 'action = ?2';
  let target = '?3 IS NULL AND ?4 IS NULL';
  if (filter.targetType !== undefined && filter.targetId !== undefined) target = 'target_type = ?3 AND target_id = ?4';
  else if (filter.targetType !== undefined) target = '+target_type = ?3 AND ?4 IS NULL';
  else if (filter.targetId !== undefined) target = '?3 IS NULL AND +target_id = ?4';
  const since = after === undefined ? 'created_at >= ?5' : '+created_at >= ?5';
  const byAction = filter.action === undefined ? '' : ' INDEXED BY audit_events_by_action';
  const select = `SELECT * FROM audit_events${byAction}
        WHERE org_id = ?1
          AND ${action}
          AND ${target}
          AND ${since}
          AND created_at < ?6`;
  const params = [
    orgId,
    filter.action ?? null,
    filter.targetType ?? null,
    filter.targetId ?? null,
    filter.since ?? BEGINNING_OF_TIME,
    filter.until ?? END_OF_TIME,
  ];
  return readPage(db, { select, params, limit, after }, toRecord);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Rows one purge statement deletes at most. D1 runs one statement at a time per database, so a
 * delete holds up every request's query while it runs: 1,000 events (three index entries each)
 * took ~25 ms in a file-backed SQLite, under 5 ms of it CPU.
 */
export const AUDIT_EVENT_PURGE_BATCH_ROWS = 1_000;

/**
 * Deletes up to {@link AUDIT_EVENT_PURGE_BATCH_ROWS} events older, at `now`, than their
 * organisation's plan keeps them ({@link AUDIT_RETENTION_DAYS}); run from the scheduled handler.
 * Organisations are the outer loop (CROSS JOIN fixes the order in SQLite), so each one's expired
 * events are a single range of `audit_events_by_org`. Returns how many were deleted.
 */
export async function purgeExpiredAuditEvents(db: D1Database, now: string): Promise<number> {
  const nowMs = Date.parse(now);
  const keptSince = Object.fromEntries(
    Object.entries(AUDIT_RETENTION_DAYS).map(([plan, days]) => [plan, new Date(nowMs - days * DAY_MS).toISOString()]),
  );
  const result = await db
    .prepare(
      `DELETE FROM audit_events WHERE rowid IN (
         SELECT e.rowid FROM organizations AS o CROSS JOIN audit_events AS e
          WHERE e.org_id = o.id AND e.created_at < json_extract(?1, '$.' || o.plan)
          LIMIT ?2)`,
    )
    .bind(JSON.stringify(keptSince), AUDIT_EVENT_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}

/**
 * Redacts, in place, the personal data of the events about one device, for its erasure: the keyed
 * hash of the client IP and the User-Agent of whoever acted on it. The rows stay (what was done,
 * to which id, by which key, when), so the log keeps its shape and the erasure does not erase the
 * record of what happened before it. Only once the erasure is recorded (db/device-erasures.ts,
 * earlier in the same batch), so a deletion refused in that batch redacts nothing. One range of
 * audit_events_by_target.
 */
export function redactDeviceAuditEvents(db: D1Database, orgId: string, deviceId: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE audit_events SET ip_hash = NULL, user_agent = NULL
        WHERE org_id = ?1 AND target_type = 'device' AND target_id = ?2 AND (ip_hash IS NOT NULL OR user_agent IS NOT NULL)
          AND EXISTS (SELECT 1 FROM device_erasures WHERE org_id = ?1 AND device_id = ?2)`,
    )
    .bind(orgId, deviceId);
}
