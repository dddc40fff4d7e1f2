/**
 * @module
 * The `sessions` table. A session's status is derived, never stored: `ended` once `ended_at` is
 * set or `expires_at` has passed, so an expired session is ended even before anything marks it.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import type { SessionEndReason, SessionStatus } from '../schemas/sessions.ts';
import { type Page, readFilteredPage, readPage } from './page.ts';

export interface SessionRecord {
  id: string;
  orgId: string;
  allowedDeviceIds: string[] | null;
  maxParticipants: number;
  expiresAt: string;
  endedAt: string | null;
  endReason: SessionEndReason | null;
  createdAt: string;
  presenceGraceSeconds: number;
  maxFrameBytes: number;
  /** Each socket's token bucket: this many frames a second, bursts of twice as many. */
  framesPerSecond: number;
  /** The room keeps at most this many messages, none older than historyMaxAgeSeconds. */
  historyMaxMessages: number;
  historyMaxAgeSeconds: number;
}

interface SessionRow {
  id: string;
  org_id: string;
  allowed_device_ids: string | null;
  max_participants: number;
  expires_at: string;
  ended_at: string | null;
  end_reason: SessionEndReason | null;
  created_at: string;
  presence_grace_seconds: number;
  max_frame_bytes: number;
  frames_per_second: number;
  history_max_messages: number;
  history_max_age_seconds: number;
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    allowedDeviceIds: row.allowed_device_ids === null ? null : (JSON.parse(row.allowed_device_ids) as string[]),
    maxParticipants: row.max_participants,
    expiresAt: row.expires_at,
    endedAt: row.ended_at,
    endReason: row.end_reason,
    createdAt: row.created_at,
    presenceGraceSeconds: row.presence_grace_seconds,
    maxFrameBytes: row.max_frame_bytes,
    framesPerSecond: row.frames_per_second,
    historyMaxMessages: row.history_max_messages,
    historyMaxAgeSeconds: row.history_max_age_seconds,
  };
}

/** The session as of `now`: an expired session reads as ended at its expiry. */
export function effectiveSession(session: SessionRecord, now: string): SessionRecord & { status: SessionStatus } {
  if (session.endedAt !== null) return { ...session, status: 'ended' };
  if (session.expiresAt <= now) return { ...session, status: 'ended', endedAt: session.expiresAt, endReason: 'expired' };
  return { ...session, status: 'active' };
}

export function insertSession(db: D1Database, session: SessionRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO sessions (id, org_id, allowed_device_ids, max_participants, expires_at, ended_at, end_reason, created_at,
                             presence_grace_seconds, max_frame_bytes, frames_per_second, history_max_messages, history_max_age_seconds)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`,
    )
    .bind(
      session.id,
      session.orgId,
      session.allowedDeviceIds === null ? null : JSON.stringify(session.allowedDeviceIds),
      session.maxParticipants,
      session.expiresAt,
      session.endedAt,
      session.endReason,
      session.createdAt,
      session.presenceGraceSeconds,
      session.maxFrameBytes,
      session.framesPerSecond,
      session.historyMaxMessages,
      session.historyMaxAgeSeconds,
    );
}

/** The statement reading one session, for a batch; {@link sessionOf} reads its result. */
export function selectSession(db: D1Database, orgId: string, id: string): D1PreparedStatement {
  return db.prepare('SELECT * FROM sessions WHERE org_id = ?1 AND id = ?2').bind(orgId, id);
}

export function sessionOf(result: D1Result | undefined): SessionRecord | undefined {
  const row = result?.results[0] as SessionRow | undefined;
  return row ? toRecord(row) : undefined;
}

export async function getSession(db: D1Database, orgId: string, id: string): Promise<SessionRecord | undefined> {
  return sessionOf(await selectSession(db, orgId, id).all());
}

/** Ends a session that is still active at `now`; changes no row if it had already ended or expired. */
export function endSession(db: D1Database, orgId: string, id: string, now: string): D1PreparedStatement {
  return db
    .prepare(
      "UPDATE sessions SET ended_at = ?3, end_reason = 'ended' WHERE org_id = ?1 AND id = ?2 AND ended_at IS NULL AND expires_at > ?3",
    )
    .bind(orgId, id, now);
}

export function listSessions(
  db: D1Database,
  orgId: string,
  filter: { status?: SessionStatus | undefined; now: string },
  limit: number,
  after: CursorPosition | undefined,
): Promise<Page<SessionRecord>> {
  if (filter.status === undefined) {
    return readPage(db, { select: 'SELECT * FROM sessions WHERE org_id = ?1', params: [orgId], limit, after }, toRecord);
  }
  const conditions = `(?2 = 'active' AND ended_at IS NULL AND expires_at > ?3)
      OR (?2 = 'ended' AND (ended_at IS NOT NULL OR expires_at <= ?3))`;
  const params = [orgId, filter.status, filter.now];
  return readFilteredPage(db, { table: 'sessions', scope: 'org_id = ?1', filter: conditions, params, limit, after }, toRecord);
}

/**
 * Sessions over since `overBefore` or earlier whose rooms have not been purged yet, the longest
 * over first; read from `sessions_awaiting_message_purge` alone (the expression is the index's).
 */
export async function sessionsAwaitingMessagePurge(db: D1Database, overBefore: string, limit: number): Promise<SessionRecord[]> {
  const { results } = await db
    .prepare(
      `SELECT * FROM sessions
        WHERE messages_purged_at IS NULL AND coalesce(ended_at, expires_at) <= ?1
        ORDER BY coalesce(ended_at, expires_at) LIMIT ?2`,
    )
    .bind(overBefore, limit)
    .all<SessionRow>();
  return results.map(toRecord);
}

/** Records that these sessions' rooms hold no messages any more, so the scheduled run stops calling them. */
export async function markMessagesPurged(db: D1Database, ids: string[], at: string): Promise<void> {
  await db
    .prepare('UPDATE sessions SET messages_purged_at = ?2 WHERE id IN (SELECT value FROM json_each(?1)) AND messages_purged_at IS NULL')
    .bind(JSON.stringify(ids), at)
    .run();
}

/** The organisation's sessions of these ids, for its erasure, once their rooms are erased (db/organization-erasure.ts). */
export function deleteSessions(db: D1Database, orgId: string, sessionIds: readonly string[]): D1PreparedStatement {
  return db
    .prepare('DELETE FROM sessions WHERE org_id = ?1 AND id IN (SELECT value FROM json_each(?2))')
    .bind(orgId, JSON.stringify(sessionIds));
}
