/**
 * Large tables, seeded fast: `INSERT … SELECT` from a recursive CTE run on the D1 binding through
 * Miniflare, in chunks, so 1,000,000 rows take seconds rather than the hours a request each would.
 * Each row has the shape the Worker writes (src/db/devices.ts `insertDevice`, src/db/audit-events.ts
 * `insertAuditEvent`): ids of the Worker's form (prefix + 22 base62 characters; sequential digits
 * here, so the harness can name row i without reading it), ISO timestamps in milliseconds, JSON
 * text where the Worker stores JSON. Row i's id and time are computed the same way in SQL and in
 * {@link deviceRow} / {@link auditRow}, which the curves use to build cursors deep in a table.
 */
import { encodeCursor } from '../../../src/lib/cursor.ts';
import { DEVICE_KINDS } from '../../../src/schemas/devices.ts';

/** Statements of at most this many rows: each is one D1 call of well under a second. */
const CHUNK_ROWS = 100_000;
/** Seeded rows are older than anything a run writes itself, so every list pages them in seed order. */
const DEVICE_EPOCH_S = Date.parse('2025-01-01T00:00:00.000Z') / 1000;
const AUDIT_EPOCH_S = Date.parse('2025-01-01T00:00:00.000Z') / 1000;

/** One disabled device in this many: the `status=disabled` filter finds 1 %. */
export const DISABLED_EVERY = 100;
/** Tags `group:0` … `group:7`: the `tag` filter matches one device in eight. */
export const TAG_GROUPS = 8;
/** Audit events name one of this many devices, so a target has size ÷ 1,000 events. */
export const AUDITED_DEVICES = 1000;
/** One audit event in this many is an `api_key.revoked`: a rare action, as the ones people search for are. */
export const RARE_ACTION_EVERY = 100_000;
export const RARE_ACTION = 'api_key.revoked';

const digits = (i: number) => String(i).padStart(22, '0');
const iso = (epochS: number, i: number) => new Date((epochS + i) * 1000).toISOString();

export function deviceRow(i: number): { id: string; createdAt: string; externalId: string } {
  return { id: `dev_${digits(i)}`, createdAt: iso(DEVICE_EPOCH_S, i), externalId: `ext-${String(i).padStart(8, '0')}` };
}

export function auditRow(i: number): { id: string; createdAt: string; targetDeviceId: string } {
  return { id: `evt_${digits(i)}`, createdAt: iso(AUDIT_EPOCH_S, i), targetDeviceId: deviceRow(1 + (i % AUDITED_DEVICES)).id };
}

/** The cursor the list would return after row i: a page that starts deep in the table. */
export function cursorAfter(orgId: string, list: 'devices' | 'audit_events', row: { id: string; createdAt: string }): string {
  return encodeCursor(orgId, list, { createdAt: row.createdAt, id: row.id });
}

/** Runs `statement(first, last)` for consecutive chunks of rows first … last. */
async function inChunks(first: number, last: number, statement: (from: number, to: number) => D1PreparedStatement): Promise<void> {
  for (let from = first; from <= last; from += CHUNK_ROWS) {
    await statement(from, Math.min(last, from + CHUNK_ROWS - 1)).run();
  }
}

/** `WITH RECURSIVE` rows i = ?1 … ?2 (SQLite's own example of a counter). */
// D1 binds every JS number as REAL: cast, or `'group:' || i` would read `group:3.0`.
const COUNTER = 'WITH RECURSIVE n(i) AS (SELECT CAST(?1 AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < CAST(?2 AS INTEGER))';
const ISO_AT = (epochS: number) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${epochS} + i, 'unixepoch')`;

/** Devices first … last of the organisation, as `insertDevice` writes them (src/db/devices.ts). */
export function insertDevices(db: D1Database, orgId: string, first: number, last: number): Promise<void> {
  const sql = `${COUNTER}
    INSERT INTO devices (id, org_id, name, kind, external_id, metadata, tags, status, last_seen_at, created_at, updated_at, version)
    SELECT printf('dev_%022d', i), ?3, 'Scale device ' || i, json_extract(?4, '$[' || (i % ${DEVICE_KINDS.length}) || ']'),
           printf('ext-%08d', i),
           json_object('floor', i % 12, 'model', 'Pixel 9', 'kiosk', json(CASE WHEN i % 2 = 0 THEN 'true' ELSE 'false' END)),
           json_array('scale', 'group:' || (i % ${TAG_GROUPS})),
           CASE WHEN i % ${DISABLED_EVERY} = 0 THEN 'disabled' ELSE 'active' END,
           NULL, ${ISO_AT(DEVICE_EPOCH_S)}, ${ISO_AT(DEVICE_EPOCH_S)}, 1
      FROM n`;
  const kinds = JSON.stringify(DEVICE_KINDS);
  return inChunks(first, last, (from, to) => db.prepare(sql).bind(from, to, orgId, kinds));
}

/**
 * Audit events first … last, as `insertAuditEvent` writes them (src/db/audit-events.ts): changes to
 * {@link AUDITED_DEVICES} devices by the benchmark key, one in ten a creation, the rest updates,
 * and one in {@link RARE_ACTION_EVERY} a key revocation; random request ids and IP hashes.
 */
export function insertAuditEvents(db: D1Database, orgId: string, keyId: string, first: number, last: number): Promise<void> {
  const sql = `${COUNTER}
    INSERT INTO audit_events (id, org_id, actor_key_id, action, target_type, target_id, request_id, ip_hash, user_agent, created_at)
    SELECT printf('evt_%022d', i), ?3, ?4,
           CASE WHEN i % ${RARE_ACTION_EVERY} = 1 THEN '${RARE_ACTION}' WHEN i % 10 = 0 THEN 'device.created' ELSE 'device.updated' END,
           CASE WHEN i % ${RARE_ACTION_EVERY} = 1 THEN 'api_key' ELSE 'device' END,
           CASE WHEN i % ${RARE_ACTION_EVERY} = 1 THEN ?4 ELSE printf('dev_%022d', 1 + i % ${AUDITED_DEVICES}) END,
           'req_' || lower(hex(randomblob(16))), lower(hex(randomblob(16))), 'switchyard-client/1.0', ${ISO_AT(AUDIT_EPOCH_S)}
      FROM n`;
  return inChunks(first, last, (from, to) => db.prepare(sql).bind(from, to, orgId, keyId));
}
