/**
 * @module
 * One part of an export: the next lines of one resource after a cursor, written to R2 as one
 * object, and the cursor to go on from. A part stops at {@link PART_MAX_LINES} lines or about
 * {@link PART_MAX_BYTES} bytes, whichever comes first, so a step's memory and CPU are bounded
 * whatever the organisation's size; it reads D1 a page of {@link PAGE_ROWS} rows at a time and a
 * session's room {@link HISTORY_PAGE} messages at a time. Everything a part writes is a function of
 * its cursor: run twice (a step retried after a crash), it writes the same object under the same key,
 * so no line is lost or repeated. Each line is the object as the API's own `present*` gives it.
 */
import * as apiKeys from '../db/api-keys.ts';
import * as auditEvents from '../db/audit-events.ts';
import * as devices from '../db/devices.ts';
import * as events from '../db/events.ts';
import * as exportObjects from '../db/export-objects.ts';
import * as organizationExports from '../db/organization-exports.ts';
import type { Page } from '../db/page.ts';
import * as sessions from '../db/sessions.ts';
import * as webhookEndpoints from '../db/webhook-endpoints.ts';
import type { SessionRoom } from '../durable-objects/session-room.ts';
import type { Config } from '../env.ts';
import { BEGINNING_OF_TIME } from '../lib/clock.ts';
import type { CursorPosition } from '../lib/cursor.ts';
import { toHex } from '../lib/encoding.ts';
import { withTimeout } from '../lib/resilience.ts';
import { presentApiKey } from '../routes/api-keys/present.ts';
import { presentAuditEvent } from '../routes/audit-events/present.ts';
import { presentDevice } from '../routes/devices/present.ts';
import { presentEvent } from '../routes/events/present.ts';
import { presentSession } from '../routes/sessions/present.ts';
import { roomSettingsOf } from '../routes/sessions/room.ts';
import { presentWebhookEndpoint } from '../routes/webhook-endpoints/present.ts';
import { EMITTED_EVENT_TYPES } from '../schemas/events.ts';
import type { ExportProgress, ExportResource } from '../schemas/organization-exports.ts';
import type { SessionMessage } from '../schemas/realtime.ts';

/** Lines per part at most (a page more at worst): 5,000 devices are ~2 MB, written in well under a second. */
export const PART_MAX_LINES = 5_000;
/** A part stops once it holds about this much (counted in UTF-16 units, so at most three times as many bytes). */
export const PART_MAX_BYTES = 8 * 1024 * 1024;
/** D1 rows one read takes: 500 events of up to 64 KiB each are the largest read, 32 MiB. */
export const PAGE_ROWS = 500;
/** Messages one call to a session's room returns (the room's most is 1,000). */
export const HISTORY_PAGE = 500;
/** Sessions one read takes while writing messages. */
const SESSION_PAGE = 100;
/** One call to a room; the step's retries cover one that fails. */
const ROOM_CALL_TIMEOUT_MS = 10_000;

/** Where a messages part goes on from: after the last session done, within the session begun. */
export interface MessagesCursor {
  after: CursorPosition | null;
  session: { id: string; createdAt: string; afterSeq: number; untilSeq: number | null } | null;
}

export type PartCursor = CursorPosition | MessagesCursor;

export interface PartRequest {
  orgId: string;
  exportId: string;
  resource: ExportResource;
  /** 1 for a resource's first part. */
  index: number;
  /** Where the previous part of the resource stopped; null for its first. */
  cursor: PartCursor | null;
  /** The time sessions' status is read at: the export's start, the same for every part. */
  readAt: string;
  /** The lines written before this part, per resource. */
  progress: ExportProgress;
}

export interface PartResult {
  lines: number;
  bytes: number;
  /** Hex SHA-256 of the part; null when it has no line (and so no object). */
  sha256: string | null;
  /** Where the resource's next part starts; null when this was its last. */
  next: PartCursor | null;
}

/** The lines of a part as they are read. */
class PartBuffer {
  private readonly chunks: string[] = [];
  lines = 0;
  private units = 0;

  add(object: unknown): void {
    const line = `${JSON.stringify(object)}\n`;
    this.chunks.push(line);
    this.lines += 1;
    this.units += line.length;
  }

  get full(): boolean {
    return this.lines >= PART_MAX_LINES || this.units >= PART_MAX_BYTES;
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(this.chunks.join(''));
  }
}

interface ReadContext {
  config: Config;
  orgId: string;
  readAt: string;
}

type Reader<C> = (context: ReadContext, cursor: C | null, buffer: PartBuffer) => Promise<C | null>;

/** A resource listed from D1 in (created_at, id) order, with the list function its API route uses. */
function rowReader<R extends CursorPosition>(
  read: (context: ReadContext, after: CursorPosition | undefined) => Promise<Page<R>>,
  present: (record: R, context: ReadContext) => unknown,
): Reader<CursorPosition> {
  return async (context, cursor, buffer) => {
    let after = cursor ?? undefined;
    while (!buffer.full) {
      const page = await read(context, after);
      for (const record of page.items) buffer.add(present(record, context));
      const last = page.items.at(-1);
      if (!page.hasMore || last === undefined) return null;
      after = { createdAt: last.createdAt, id: last.id };
    }
    return after ?? null;
  };
}

function roomOf(config: Config, sessionId: string): DurableObjectStub<SessionRoom> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  const rooms = config.sessionRooms as unknown as DurableObjectNamespace<SessionRoom>;
  return rooms.get(rooms.idFromName(sessionId));
}

/**
 * Copies the session's messages after `position.afterSeq` into the buffer, up to the last seq the
 * room had when the session's first page was read (`untilSeq`), so a busy session cannot keep the
 * export going. Returns whether the session is done; `position` is moved past what was copied.
 */
async function copyMessages(
  context: ReadContext,
  session: sessions.SessionRecord,
  position: NonNullable<MessagesCursor['session']>,
  buffer: PartBuffer,
): Promise<boolean> {
  const room = roomOf(context.config, session.id);
  while (!buffer.full) {
    const page = await withTimeout(
      room.history(roomSettingsOf(session), position.afterSeq, HISTORY_PAGE),
      ROOM_CALL_TIMEOUT_MS,
      `SessionRoom ${session.id}`,
    );
    position.untilSeq ??= page.lastSeq;
    // Over RPC a message's `unknown` payload comes back typed `{} | null`: it is the stored JSON.
    for (const message of page.messages as SessionMessage[]) {
      if (message.seq > position.untilSeq) return true;
      buffer.add({ session_id: session.id, ...message });
      position.afterSeq = message.seq;
    }
    if (page.messages.length < HISTORY_PAGE || position.afterSeq >= position.untilSeq) return true;
  }
  return false;
}

/** Every session's retained messages, session by session in the sessions' order, each by seq. */
const readMessages: Reader<MessagesCursor> = async (context, cursor, buffer) => {
  const { db } = context.config;
  let after = cursor?.after ?? null;
  let current = cursor?.session ?? null;
  let record = current === null ? undefined : await sessions.getSession(db, context.orgId, current.id);
  let queue: sessions.SessionRecord[] = [];
  for (;;) {
    if (current !== null) {
      // A session deleted since the previous part has nothing left to export.
      if (record !== undefined && !(await copyMessages(context, record, current, buffer))) return { after, session: current };
      after = { createdAt: current.createdAt, id: current.id };
      current = null;
      if (buffer.full) return { after, session: null };
    }
    if (queue.length === 0) {
      queue = (await sessions.listSessions(db, context.orgId, { now: context.readAt }, SESSION_PAGE, after ?? undefined)).items;
      if (queue.length === 0) return null;
    }
    record = queue.shift();
    if (record === undefined) return null;
    current = { id: record.id, createdAt: record.createdAt, afterSeq: 0, untilSeq: null };
  }
};

const READERS: { [R in ExportResource]: Reader<R extends 'messages' ? MessagesCursor : CursorPosition> } = {
  devices: rowReader(
    ({ config, orgId }, after) => devices.listDevices(config.db, orgId, {}, PAGE_ROWS, after),
    (record) => presentDevice(record),
  ),
  sessions: rowReader(
    ({ config, orgId, readAt }, after) => sessions.listSessions(config.db, orgId, { now: readAt }, PAGE_ROWS, after),
    (record, { readAt }) => presentSession(record, readAt),
  ),
  messages: readMessages,
  api_keys: rowReader(
    ({ config, orgId }, after) => apiKeys.listApiKeys(config.db, orgId, PAGE_ROWS, after),
    (record) => presentApiKey(record),
  ),
  webhook_endpoints: rowReader(
    ({ config, orgId }, after) => webhookEndpoints.listWebhookEndpoints(config.db, orgId, PAGE_ROWS, after),
    (record) => presentWebhookEndpoint(record),
  ),
  audit_events: rowReader(
    ({ config, orgId }, after) => auditEvents.listAuditEvents(config.db, orgId, {}, PAGE_ROWS, after),
    (record) => presentAuditEvent(record),
  ),
  events: rowReader(
    ({ config, orgId }, after) =>
      events.listEvents(config.db, orgId, { types: EMITTED_EVENT_TYPES, since: BEGINNING_OF_TIME }, PAGE_ROWS, after),
    (record) => presentEvent(record),
  ),
};

/** Reads, writes and records one part (see the module's comment). */
export async function writePart(config: Config, request: PartRequest): Promise<PartResult> {
  const buffer = new PartBuffer();
  // Each reader takes the cursor its own previous part returned: the indexing loses that pairing.
  const reader = READERS[request.resource] as Reader<PartCursor>;
  const next = await reader({ config, orgId: request.orgId, readAt: request.readAt }, request.cursor, buffer);
  if (buffer.lines === 0) return { lines: 0, bytes: 0, sha256: null, next };
  const body = buffer.encode();
  const sha256 = toHex(await crypto.subtle.digest('SHA-256', body));
  const path = exportObjects.partPath(request.resource, request.index);
  await exportObjects.putPart(config.exports, exportObjects.partKey(request.orgId, request.exportId, path), body, sha256);
  const progress = { ...request.progress, [request.resource]: request.progress[request.resource] + buffer.lines };
  await organizationExports.recordProgress(config.db, request.exportId, progress).run();
  return { lines: buffer.lines, bytes: body.length, sha256, next };
}
