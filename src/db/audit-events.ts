/**
 * @module
 * The `audit_events` table. Events are inserted in the same D1 batch as the change they record.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import { newId } from '../lib/ids.ts';
import type { AuditAction, AuditTargetType } from '../schemas/audit-events.ts';
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
  const select = `SELECT * FROM audit_events
        WHERE org_id = ?1
          AND (?2 IS NULL OR action = ?2)
          AND (?3 IS NULL OR target_type = ?3)
          AND (?4 IS NULL OR target_id = ?4)
          AND (?5 IS NULL OR created_at >= ?5)
          AND (?6 IS NULL OR created_at < ?6)`;
  const params = [
    orgId,
    filter.action ?? null,
    filter.targetType ?? null,
    filter.targetId ?? null,
    filter.since ?? null,
    filter.until ?? null,
  ];
  return readPage(db, { select, params, limit, after }, toRecord);
}
