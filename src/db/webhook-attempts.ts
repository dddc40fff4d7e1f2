/**
 * @module
 * The `webhook_attempts` table: one row per HTTP request made to deliver an event, for the
 * attempts API. Every query is scoped by organisation.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import { type Page, readPage } from './page.ts';

export type AttemptOutcome = 'succeeded' | 'failed' | 'timeout' | 'network_error' | 'not_allowed';

export interface AttemptRecord {
  id: string;
  orgId: string;
  endpointId: string;
  deliveryId: string;
  eventId: string;
  /** 1 for the delivery's first request. */
  attempt: number;
  outcome: AttemptOutcome;
  statusCode: number | null;
  durationMs: number;
  nextAttemptAt: string | null;
  createdAt: string;
}

interface AttemptRow {
  id: string;
  org_id: string;
  endpoint_id: string;
  delivery_id: string;
  event_id: string;
  attempt: number;
  outcome: AttemptOutcome;
  status_code: number | null;
  duration_ms: number;
  next_attempt_at: string | null;
  created_at: string;
}

function toRecord(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    endpointId: row.endpoint_id,
    deliveryId: row.delivery_id,
    eventId: row.event_id,
    attempt: row.attempt,
    outcome: row.outcome,
    statusCode: row.status_code,
    durationMs: row.duration_ms,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
  };
}

export function insertAttempt(db: D1Database, attempt: AttemptRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO webhook_attempts (id, org_id, endpoint_id, delivery_id, event_id, attempt, outcome, status_code, duration_ms, next_attempt_at, created_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)`,
    )
    .bind(
      attempt.id,
      attempt.orgId,
      attempt.endpointId,
      attempt.deliveryId,
      attempt.eventId,
      attempt.attempt,
      attempt.outcome,
      attempt.statusCode,
      attempt.durationMs,
      attempt.nextAttemptAt,
      attempt.createdAt,
    );
}

/** A page of the endpoint's attempts, oldest first, optionally of one event. */
export function listAttempts(
  db: D1Database,
  orgId: string,
  endpointId: string,
  filter: { eventId?: string | undefined },
  limit: number,
  after: CursorPosition | undefined,
): Promise<Page<AttemptRecord>> {
  const select = `SELECT * FROM webhook_attempts WHERE org_id = ?1 AND endpoint_id = ?2 AND (?3 IS NULL OR event_id = ?3)`;
  return readPage(db, { select, params: [orgId, endpointId, filter.eventId ?? null], limit, after }, toRecord);
}

/** Rows one purge statement deletes at most (as for audit events). */
export const WEBHOOK_ATTEMPT_PURGE_BATCH_ROWS = 1_000;

/** Deletes up to {@link WEBHOOK_ATTEMPT_PURGE_BATCH_ROWS} attempts made before `keptSince`; returns how many. */
export async function purgeOldAttempts(db: D1Database, keptSince: string): Promise<number> {
  const result = await db
    .prepare('DELETE FROM webhook_attempts WHERE rowid IN (SELECT rowid FROM webhook_attempts WHERE created_at < ?1 LIMIT ?2)')
    .bind(keptSince, WEBHOOK_ATTEMPT_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}
