/**
 * @module
 * The `organization_exports` table: one row per export, its status and progress. The archive is in
 * R2 (db/export-objects.ts); the export Workflow (workflows/organization-export.ts) moves the row
 * through queued → running → succeeded | failed, and the hourly retention on to expired. Every
 * change of status is conditional on the status it leaves, so a step that runs again changes nothing.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import type { ExportFailure, ExportProgress, ExportStatus } from '../schemas/organization-exports.ts';
import { type Page, readPage } from './page.ts';
import { isUniqueViolation } from './unique-violation.ts';

export interface ExportRecord {
  id: string;
  orgId: string;
  status: ExportStatus;
  progress: ExportProgress;
  createdAt: string;
  createdBy: string | null;
  startedAt: string | null;
  completedAt: string | null;
  expiresAt: string | null;
  sizeBytes: number | null;
  errorCode: ExportFailure | null;
}

interface ExportRow {
  id: string;
  org_id: string;
  status: ExportStatus;
  progress: string;
  created_at: string;
  created_by: string | null;
  started_at: string | null;
  completed_at: string | null;
  expires_at: string | null;
  size_bytes: number | null;
  error_code: ExportFailure | null;
}

function toRecord(row: ExportRow): ExportRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    status: row.status,
    progress: JSON.parse(row.progress) as ExportProgress,
    createdAt: row.created_at,
    createdBy: row.created_by,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    expiresAt: row.expires_at,
    sizeBytes: row.size_bytes,
    errorCode: row.error_code,
  };
}

/** Whether an error is the constraint refusing a second export in progress for the organisation. */
export function isExportInProgressConflict(error: unknown): boolean {
  return isUniqueViolation(error, 'organization_exports', ['org_id']);
}

export function insertExport(db: D1Database, record: ExportRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO organization_exports (id, org_id, status, progress, created_at, created_by)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
    )
    .bind(record.id, record.orgId, record.status, JSON.stringify(record.progress), record.createdAt, record.createdBy);
}

export async function getExport(db: D1Database, orgId: string, id: string): Promise<ExportRecord | undefined> {
  const row = await db.prepare('SELECT * FROM organization_exports WHERE org_id = ?1 AND id = ?2').bind(orgId, id).first<ExportRow>();
  return row ? toRecord(row) : undefined;
}

export function listExports(db: D1Database, orgId: string, limit: number, after: CursorPosition | undefined): Promise<Page<ExportRecord>> {
  return readPage(db, { select: 'SELECT * FROM organization_exports WHERE org_id = ?1', params: [orgId], limit, after }, toRecord);
}

/**
 * Marks the export running (from queued, or still running when the step that did it runs again) and
 * returns it; undefined when it is neither (it failed meanwhile, or never was).
 */
export async function startExport(db: D1Database, id: string, at: string): Promise<ExportRecord | undefined> {
  const row = await db
    .prepare(
      `UPDATE organization_exports SET status = 'running', started_at = coalesce(started_at, ?2)
        WHERE id = ?1 AND status IN ('queued', 'running') RETURNING *`,
    )
    .bind(id, at)
    .first<ExportRow>();
  return row ? toRecord(row) : undefined;
}

/** The lines written so far, per resource: the absolute counts, so a step that runs again writes the same. */
export function recordProgress(db: D1Database, id: string, progress: ExportProgress): D1PreparedStatement {
  return db
    .prepare(`UPDATE organization_exports SET progress = ?2 WHERE id = ?1 AND status = 'running'`)
    .bind(id, JSON.stringify(progress));
}

/** Marks a running export succeeded; changes no row when it is not running (it was finished already). */
export function completeExport(
  db: D1Database,
  id: string,
  done: { at: string; expiresAt: string; sizeBytes: number; progress: ExportProgress },
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE organization_exports SET status = 'succeeded', completed_at = ?2, expires_at = ?3, size_bytes = ?4, progress = ?5
        WHERE id = ?1 AND status = 'running'`,
    )
    .bind(id, done.at, done.expiresAt, done.sizeBytes, JSON.stringify(done.progress));
}

/** Marks an export in progress failed; what it wrote expires like an archive. Changes no row when it is not in progress. */
export function failExport(
  db: D1Database,
  id: string,
  failed: { at: string; expiresAt: string; errorCode: ExportFailure },
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE organization_exports SET status = 'failed', completed_at = ?2, expires_at = ?3, error_code = ?4
        WHERE id = ?1 AND status IN ('queued', 'running')`,
    )
    .bind(id, failed.at, failed.expiresAt, failed.errorCode);
}

/** Exports whose objects are due for deletion at `now`, the longest due first. */
export async function exportsToExpire(db: D1Database, now: string, limit: number): Promise<Array<{ id: string; orgId: string }>> {
  const { results } = await db
    .prepare(
      `SELECT id, org_id FROM organization_exports
        WHERE status IN ('succeeded', 'failed') AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2`,
    )
    .bind(now, limit)
    .all<{ id: string; org_id: string }>();
  return results.map((row) => ({ id: row.id, orgId: row.org_id }));
}

/** Records that an export's objects are gone. */
export function markExpired(db: D1Database, id: string): D1PreparedStatement {
  return db.prepare(`UPDATE organization_exports SET status = 'expired' WHERE id = ?1 AND status IN ('succeeded', 'failed')`).bind(id);
}

/** Exports still queued or running that were asked for before `before`, the oldest first. */
export async function exportsInProgressSince(
  db: D1Database,
  before: string,
  limit: number,
): Promise<Array<{ id: string; orgId: string; status: ExportStatus }>> {
  const { results } = await db
    .prepare(
      `SELECT id, org_id, status FROM organization_exports
        WHERE status IN ('queued', 'running') AND created_at < ?1 ORDER BY created_at LIMIT ?2`,
    )
    .bind(before, limit)
    .all<{ id: string; org_id: string; status: ExportStatus }>();
  return results.map((row) => ({ id: row.id, orgId: row.org_id, status: row.status }));
}
