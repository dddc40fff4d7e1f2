/**
 * @module
 * The `webhook_deliveries` table: one row per event and endpoint it is due at, from its dispatch
 * until an attempt succeeds or the retry schedule runs out. A consumer leases a row before it
 * attempts it, so a message the queue hands out twice (or the sweep sends again) is attempted once.
 */

import { END_OF_TIME } from '../lib/clock.ts';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface DeliveryRecord {
  id: string;
  orgId: string;
  endpointId: string;
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
  /** Attempts made before the retry schedule (re)started: a resend starts it again. */
  scheduleFrom: number;
  nextAttemptAt: string | null;
  leasedUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

interface DeliveryRow {
  id: string;
  org_id: string;
  endpoint_id: string;
  event_id: string;
  status: DeliveryStatus;
  attempts: number;
  schedule_from: number;
  next_attempt_at: string | null;
  leased_until: string | null;
  created_at: string;
  updated_at: string;
}

function toRecord(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    status: row.status,
    attempts: row.attempts,
    scheduleFrom: row.schedule_from,
    nextAttemptAt: row.next_attempt_at,
    leasedUntil: row.leased_until,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A delivery to make: the event, the endpoint, and when (it is due at once). */
export interface NewDelivery {
  id: string;
  orgId: string;
  endpointId: string;
  eventId: string;
  at: string;
}

function insertPending(db: D1Database, delivery: NewDelivery, onConflict: string): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5)
       ON CONFLICT (endpoint_id, event_id) ${onConflict}`,
    )
    .bind(delivery.id, delivery.orgId, delivery.endpointId, delivery.eventId, delivery.at);
}

/** A pending delivery due now; nothing when the event already has one at that endpoint (a second dispatch). */
export function insertDelivery(db: D1Database, delivery: NewDelivery): D1PreparedStatement {
  return insertPending(db, delivery, 'DO NOTHING');
}

/**
 * Sends an event to an endpoint again, now: its delivery there is reopened, pending and due at
 * `at`, with the retry schedule started again (a pending one is made due now, its lease dropped)
 * and its id kept; without one, a delivery is made with `id`.
 */
export function redeliver(db: D1Database, delivery: NewDelivery): D1PreparedStatement {
  return insertPending(
    db,
    delivery,
    "DO UPDATE SET status = 'pending', schedule_from = attempts, next_attempt_at = ?5, leased_until = NULL, updated_at = ?5",
  );
}

export async function getDelivery(db: D1Database, id: string): Promise<DeliveryRecord | undefined> {
  const row = await db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?1').bind(id).first<DeliveryRow>();
  return row ? toRecord(row) : undefined;
}

/** The event's delivery to the endpoint, if it has one. */
export async function deliveryOfEvent(
  db: D1Database,
  orgId: string,
  endpointId: string,
  eventId: string,
): Promise<DeliveryRecord | undefined> {
  const row = await db
    .prepare('SELECT * FROM webhook_deliveries WHERE org_id = ?1 AND endpoint_id = ?2 AND event_id = ?3')
    .bind(orgId, endpointId, eventId)
    .first<DeliveryRow>();
  return row ? toRecord(row) : undefined;
}

/** The endpoint's failed deliveries dispatched in [since, until) (until: none, when undefined), oldest first, at most `limit`. */
export async function failedDeliveryIds(
  db: D1Database,
  orgId: string,
  endpointId: string,
  window: { since: string; until: string | undefined },
  limit: number,
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM webhook_deliveries
        WHERE org_id = ?1 AND endpoint_id = ?2 AND status = 'failed' AND created_at >= ?3 AND created_at < ?4
        ORDER BY created_at, id LIMIT ?5`,
    )
    .bind(orgId, endpointId, window.since, window.until ?? END_OF_TIME, limit)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

/** Reopens failed deliveries (by id), due at `at` with the retry schedule started again; one still failed when this runs is the only kind changed. */
export function reopenFailedDeliveries(db: D1Database, ids: readonly string[], at: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_deliveries SET status = 'pending', schedule_from = attempts, next_attempt_at = ?2, leased_until = NULL, updated_at = ?2
        WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'failed'`,
    )
    .bind(JSON.stringify(ids), at);
}

/**
 * Leases a pending delivery that is due at `now` (within `earlyMs`: a queue's delay is not to the
 * millisecond) and not leased by another consumer, until `leaseUntil`. Whether this caller got it.
 */
export async function leaseDelivery(db: D1Database, id: string, now: string, dueBy: string, leaseUntil: string): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE webhook_deliveries SET leased_until = ?4
        WHERE id = ?1 AND status = 'pending' AND next_attempt_at <= ?3 AND (leased_until IS NULL OR leased_until <= ?2)`,
    )
    .bind(id, now, dueBy, leaseUntil)
    .run();
  return result.meta.changes === 1;
}

/** What an attempt decided: another one at `nextAttemptAt`, or none (succeeded, or failed for good). */
export function settleAttempt(
  db: D1Database,
  delivery: DeliveryRecord,
  outcome: { status: DeliveryStatus; nextAttemptAt: string | null; at: string },
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3, leased_until = NULL, updated_at = ?4
        WHERE id = ?1 AND status = 'pending'`,
    )
    .bind(delivery.id, outcome.status, outcome.nextAttemptAt, outcome.at);
}

/** Settles a pending delivery as failed without an attempt: nothing is left to send it to, or the dead-letter queue has it. */
export function abandonDelivery(db: D1Database, id: string, at: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, leased_until = NULL, updated_at = ?2
        WHERE id = ?1 AND status = 'pending'`,
    )
    .bind(id, at);
}

/** Gives a leased delivery back without an attempt (its endpoint's circuit is open): due again at `nextAttemptAt`. */
export function postponeDelivery(db: D1Database, id: string, nextAttemptAt: string, at: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_deliveries SET next_attempt_at = ?2, leased_until = NULL, updated_at = ?3 WHERE id = ?1 AND status = 'pending'`,
    )
    .bind(id, nextAttemptAt, at);
}

/**
 * Pending deliveries overdue since before `overdueBefore` and not leased: their queue message was
 * lost (a Worker stopped between dispatch and enqueue, or the queue dropped it). The sweep sends them again.
 */
export async function overdueDeliveries(db: D1Database, overdueBefore: string, now: string, limit: number): Promise<DeliveryRecord[]> {
  const { results } = await db
    .prepare(
      `SELECT * FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at < ?1 AND (leased_until IS NULL OR leased_until <= ?2)
        ORDER BY next_attempt_at LIMIT ?3`,
    )
    .bind(overdueBefore, now, limit)
    .all<DeliveryRow>();
  return results.map(toRecord);
}

/** Rows one purge statement deletes at most (as for audit events). */
export const WEBHOOK_DELIVERY_PURGE_BATCH_ROWS = 1_000;

/** Deletes up to {@link WEBHOOK_DELIVERY_PURGE_BATCH_ROWS} settled deliveries last changed before `keptSince` (a pending one is never purged); returns how many. */
export async function purgeSettledDeliveries(db: D1Database, keptSince: string): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM webhook_deliveries WHERE rowid IN (
         SELECT rowid FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < ?1 LIMIT ?2)`,
    )
    .bind(keptSince, WEBHOOK_DELIVERY_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}
