/**
 * @module
 * The `events` table: the outbox of the changes a customer may follow. An event is inserted in the
 * same D1 batch as its change (routes/events.ts); it is read back by GET /v1/events and, later, by
 * the webhook delivery. Every query is scoped by organisation.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import type { EmittedEventType } from '../schemas/events.ts';
import { type Page, readPage } from './page.ts';

export interface EventRecord {
  id: string;
  orgId: string;
  type: EmittedEventType;
  /** The object as the API presented it when the event happened. */
  data: unknown;
  createdAt: string;
}

interface EventRow {
  id: string;
  org_id: string;
  type: EmittedEventType;
  data: string;
  created_at: string;
}

function toRecord(row: EventRow): EventRecord {
  return { id: row.id, orgId: row.org_id, type: row.type, data: JSON.parse(row.data) as unknown, createdAt: row.created_at };
}

const INSERT_COLUMNS = 'INSERT INTO events (id, org_id, type, data, created_at, dispatched_at)';
/**
 * An event of an organisation with no enabled endpoint when it commits has nothing to dispatch: it
 * is written dispatched (at its own time), so the dispatch after the change finds nothing and writes
 * nothing, where it would otherwise read the endpoints and stamp the event (three D1 calls per
 * change; bench/README.md). Decided in the change's own transaction: an endpoint enabled after it
 * committed receives events from then on, as one enabled while a dispatch runs always did.
 */
const DISPATCHED_UNLESS_ENDPOINTS =
  'CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints WHERE org_id = ?2 AND enabled = 1) THEN NULL ELSE ?5 END';

/** Column of the row {@link insertEvent} returns: 1 when the event was written undispatched. */
export const AWAITS_DISPATCH = 'awaits_dispatch';
const RETURNING_AWAITS_DISPATCH = `RETURNING dispatched_at IS NULL AS ${AWAITS_DISPATCH}`;

/**
 * The INSERT of one event, for its change's batch. With `onlyIfChanged`, the row is written only
 * when the statement just before it changed a row (SQLite's `changes()`), so a no-op has no event.
 * `data` must be serialised already (its size is checked before: see routes/events.ts). It returns
 * one row, {@link AWAITS_DISPATCH}, when it wrote the event: the change then knows, from its own
 * batch, whether there is anything to dispatch (routes/outbox.ts), and no read after it has to ask.
 */
export function insertEvent(
  db: D1Database,
  event: { id: string; orgId: string; type: EmittedEventType; data: string; createdAt: string },
  options: { onlyIfChanged?: boolean } = {},
): D1PreparedStatement {
  const sql = options.onlyIfChanged
    ? `${INSERT_COLUMNS} SELECT ?1, ?2, ?3, ?4, ?5, ${DISPATCHED_UNLESS_ENDPOINTS} WHERE changes() > 0 ${RETURNING_AWAITS_DISPATCH}`
    : `${INSERT_COLUMNS} VALUES (?1, ?2, ?3, ?4, ?5, ${DISPATCHED_UNLESS_ENDPOINTS}) ${RETURNING_AWAITS_DISPATCH}`;
  return db.prepare(sql).bind(event.id, event.orgId, event.type, event.data, event.createdAt);
}

/**
 * The INSERT of an event written from outside a D1 batch of its change (a session room's presence
 * event, from the room's own outbox): nothing when an event with its id exists, so a room that wrote
 * it and stopped before forgetting it writes it once.
 */
export function insertEventOnce(
  db: D1Database,
  event: { id: string; orgId: string; type: EmittedEventType; data: string; createdAt: string },
): D1PreparedStatement {
  return db
    .prepare(`${INSERT_COLUMNS} VALUES (?1, ?2, ?3, ?4, ?5, ${DISPATCHED_UNLESS_ENDPOINTS}) ON CONFLICT (id) DO NOTHING`)
    .bind(event.id, event.orgId, event.type, event.data, event.createdAt);
}

export interface EventFilter {
  /** Only these types; never empty (a key that may read no type is refused before). */
  types: readonly EmittedEventType[];
  since: string;
  until?: string | undefined;
}

/** A page of the organisation's events of the given types, oldest first, within the retention window. */
export function listEvents(
  db: D1Database,
  orgId: string,
  filter: EventFilter,
  limit: number,
  after: CursorPosition | undefined,
): Promise<Page<EventRecord>> {
  const select = `SELECT * FROM events
        WHERE org_id = ?1
          AND type IN (SELECT value FROM json_each(?2))
          AND created_at >= ?3
          AND (?4 IS NULL OR created_at < ?4)`;
  const params = [orgId, JSON.stringify(filter.types), filter.since, filter.until ?? null];
  return readPage(db, { select, params, limit, after }, toRecord);
}

export function getEvent(db: D1Database, orgId: string, id: string): Promise<EventRecord | undefined> {
  return db
    .prepare('SELECT * FROM events WHERE org_id = ?1 AND id = ?2')
    .bind(orgId, id)
    .first<EventRow>()
    .then((row) => (row === null ? undefined : toRecord(row)));
}

/** Rows one purge statement deletes at most (like the audit events': see AUDIT_EVENT_PURGE_BATCH_ROWS). */
export const EVENT_PURGE_BATCH_ROWS = 1_000;

/** Deletes up to {@link EVENT_PURGE_BATCH_ROWS} events older than `keptSince`; returns how many. */
export async function purgeExpiredEvents(db: D1Database, keptSince: string): Promise<number> {
  const result = await db
    .prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE created_at < ?1 LIMIT ?2)')
    .bind(keptSince, EVENT_PURGE_BATCH_ROWS)
    .run();
  return result.meta.changes;
}

/**
 * Events not yet dispatched to their endpoints, oldest first: of one organisation (right after its
 * change), or of every organisation written before `writtenBefore` (the sweep, for what a Worker
 * that stopped after its commit left behind).
 */
/** An organisation's undispatched events, oldest first: read after each of its changes (an index of its own, migration 0013). */
export const UNDISPATCHED_OF_ORGANIZATION = 'SELECT * FROM events WHERE dispatched_at IS NULL AND org_id = ?1 ORDER BY created_at LIMIT ?2';

export async function undispatchedEvents(
  db: D1Database,
  scope: { orgId: string } | { writtenBefore: string },
  limit: number,
): Promise<EventRecord[]> {
  const { results } =
    'orgId' in scope
      ? await db.prepare(UNDISPATCHED_OF_ORGANIZATION).bind(scope.orgId, limit).all<EventRow>()
      : await db
          .prepare('SELECT * FROM events WHERE dispatched_at IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2')
          .bind(scope.writtenBefore, limit)
          .all<EventRow>();
  return results.map(toRecord);
}

/** Marks the event dispatched, unless another dispatcher did first; batched with its deliveries. */
export function markDispatched(db: D1Database, id: string, at: string): D1PreparedStatement {
  return db.prepare('UPDATE events SET dispatched_at = ?2 WHERE id = ?1 AND dispatched_at IS NULL').bind(id, at);
}

/**
 * Redacts, in place, what the events about one device carry of it, for its erasure: its name
 * becomes `erasedName`, and its `external_id`, `metadata` and `tags` are emptied (the fields
 * routes/devices/present.ts erasedDevice blanks). The events stay, with the device's id, kind,
 * status, times and version, so the event history keeps its shape. Only once the erasure is
 * recorded (db/device-erasures.ts, earlier in the same batch). One range of events_by_org_type per
 * device event type: the organisation's device events of the last 30 days.
 */
export function redactDeviceEvents(db: D1Database, orgId: string, deviceId: string, erasedName: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE events SET data = json_set(data, '$.name', ?3, '$.external_id', NULL, '$.metadata', json('{}'), '$.tags', json('[]'))
        WHERE org_id = ?1 AND type IN ('device.created', 'device.updated', 'device.deleted') AND json_extract(data, '$.id') = ?2
          AND EXISTS (SELECT 1 FROM device_erasures WHERE org_id = ?1 AND device_id = ?2)`,
    )
    .bind(orgId, deviceId, erasedName);
}
