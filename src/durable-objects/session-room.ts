/**
 * @module
 * One Durable Object per session: it accepts the session's WebSockets (hibernation API, so an
 * idle room costs nothing), gives every broadcast the next sequence number, keeps the session's
 * message history in its SQLite storage (as much as the plan retains), replays what a
 * reconnecting client missed (announcing a `gap` beyond REPLAY_LIMIT), drops a message whose
 * publisher id it has seen (PUBLISH_ID_WINDOW), keeps presence per connection with a grace period
 * after abrupt disconnects, rate-limits each socket, and ends the session when asked or when its
 * TTL runs out (alarm). Ping frames are answered by the runtime (`setWebSocketAutoResponse`)
 * without waking the object; an alarm closes sockets that have been silent too long. Every frame
 * it sends is a `ServerFrame` (src/schemas/realtime.ts), serialised by {@link serializeFrame} only.
 * Each join and leave it announces is also a `session.participant_joined|left` event: kept in the
 * room's outbox with the broadcast, then written to D1's events and dispatched by the alarm.
 */
import { DurableObject } from 'cloudflare:workers';
import { dispatchEvents } from '../db/event-dispatch.ts';
import * as events from '../db/events.ts';
import { guardD1 } from '../db/guarded-d1.ts';
import { loadConfig } from '../env.ts';
import { randomBase62 } from '../lib/encoding.ts';
import { newId } from '../lib/ids.ts';
import { type JsonViolation, parseStrictJson } from '../lib/json-inspect.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { recordEvent, type Telemetry } from '../lib/metrics.ts';
import { recordSecurityEvent } from '../lib/security-events.ts';
import type { SessionPresenceChange } from '../schemas/events.ts';
import {
  ABUSE_LIMIT,
  CLOSE_CODE_TABLE,
  CLOSE_CODES,
  type ClientFrame,
  ClientFrameSchema,
  DEFAULT_FRAME_BYTES,
  DEFAULT_PRESENCE_GRACE_SECONDS,
  FRAME_RATE,
  frameBurst,
  type MessageFrame,
  MessageIdSchema,
  type PresenceFrame,
  PUBLISH_ID_WINDOW,
  REPLAY_LIMIT,
  type ServerFrame,
  type SessionMessage,
} from '../schemas/realtime.ts';
import { JOIN_REFUSAL_HEADER, type JoinRefusal, type JoinRequest, type RoomSettings, readJoinHeaders } from './session-room-protocol.ts';

/** Older messages are pruned every this many broadcasts, not on every one: one statement less per message. */
export const PRUNE_EVERY = 64;
/** A socket that sent nothing (not even a ping) for this long is closed. */
export const STALE_AFTER_MS = 60_000;
const SWEEP_EVERY_MS = 30_000;
/** How stale the recorded last-seen time of a socket may be; a socket is closed only once surely silent. */
export const LAST_SEEN_RESOLUTION_MS = 5_000;
/** The most messages one history read returns. */
export const MAX_HISTORY_PAGE = 1000;
/** Presence events one alarm writes to D1 at most (one batch); more wait for the next alarm, set at once. */
const OUTBOX_BATCH = 50;
/** After a failed write of the outbox to D1, the next try. */
export const OUTBOX_RETRY_MS = 30_000;

/**
 * Close codes after which a participant whose last socket it was stays present for the session's
 * grace period: the connection dropped (1006), the page went away or reloaded (1001), or the
 * socket failed (1011). A socket its client closed on purpose, or the server closed, leaves at once.
 */
const ABRUPT_CLOSE_CODES: ReadonlySet<number> = new Set([1001, 1006, 1011]);

const DEFAULT_SETTINGS: RoomSettings = {
  expiresAt: '',
  maxParticipants: 100,
  maxFrameBytes: DEFAULT_FRAME_BYTES,
  framesPerSecond: FRAME_RATE.perSecond,
  presenceGraceSeconds: DEFAULT_PRESENCE_GRACE_SECONDS,
  historyMaxMessages: 10_000,
  historyMaxAgeSeconds: 24 * 60 * 60,
};

interface Attachment {
  participant: string;
  connectedAt: string;
  lastAckSeq: number;
  lastSeenMs: number;
}

/** A connection's token bucket, and the frames it refused in the current abuse window. Kept in memory: a room that hibernated was idle, so every bucket was full. */
interface FrameBudget {
  tokens: number;
  refilledAtMs: number;
  refused: number;
  windowStartMs: number;
}

/** A broadcast before the room gives it its place in the sequence. */
type Unsequenced<Frame> = Frame extends SessionMessage ? Omit<Frame, 'seq' | 'ts'> : never;

// A type, not an interface: sql.exec wants a row type with an index signature.
type StoredMessage = {
  seq: number;
  type: SessionMessage['type'];
  sender: string;
  client_id: string | null;
  payload: string;
  ts: string;
};

export interface ParticipantInfo {
  participant: string;
  connectedAt: string;
  lastAckSeq: number;
}

// A type, not an interface, for the same reason.
type OutboxRow = { id: string; org_id: string; type: 'session.participant_joined' | 'session.participant_left'; data: string };

/** A page of the session's stored messages, for `GET /v1/sessions/{id}/messages`. */
export interface HistoryPage {
  epoch: string;
  messages: SessionMessage[];
  /** The oldest `seq` the room still holds (`lastSeq + 1` when it holds none). */
  earliestSeq: number;
  lastSeq: number;
}

/** What a publish through the HTTP API became: the envelope, and whether its id had been published already. */
export type PublishOutcome = { envelope: SessionMessage; duplicate: boolean } | { refused: JoinRefusal };

export class SessionRoom extends DurableObject {
  private readonly sql: SqlStorage;
  // Mirrors of what storage holds, read once per wake-up: a broadcast then costs one INSERT and one
  // DELETE, not four more statements to find the next seq and whether the session is still open.
  private lastSeq: number;
  private ended: 'ended' | 'expired' | undefined;
  private settings: RoomSettings;
  private epochValue: string | undefined;
  // Each socket's attachment as last written, so a frame does not deserialize it again.
  private readonly attachments = new WeakMap<WebSocket, Attachment>();
  private readonly budgets = new WeakMap<WebSocket, FrameBudget>();
  // Participants announced as left since this instance woke, so that a leave is announced once.
  private readonly departed = new Set<string>();
  // When the outbox may be written to D1 again after a failure; undefined: at once.
  private outboxRetryAtMs: number | undefined;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, sender TEXT NOT NULL, payload TEXT NOT NULL, ts TEXT NOT NULL, client_id TEXT)`,
    );
    // Rooms created before message ids existed: their table lacks the column.
    if (this.sql.exec(`SELECT 1 FROM pragma_table_info('messages') WHERE name = 'client_id'`).toArray().length === 0) {
      this.sql.exec('ALTER TABLE messages ADD COLUMN client_id TEXT');
    }
    // Participants removed from the session (a device disabled or deleted), with the device version
    // that removed them: a join authorised by an older read of the device is refused.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS removed (participant TEXT PRIMARY KEY, version INTEGER NOT NULL)`);
    // API keys revoked while the session was open: a join authorised by a token one of them minted is refused.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS revoked_keys (api_key_id TEXT PRIMARY KEY)`);
    // The ids publishers gave their messages, for PUBLISH_ID_WINDOW: a repeat is answered, not broadcast.
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS published_ids (sender TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (sender, id)) WITHOUT ROWID`,
    );
    this.sql.exec('CREATE INDEX IF NOT EXISTS published_ids_by_age ON published_ids (at_ms)');
    this.sql.exec('CREATE INDEX IF NOT EXISTS published_ids_by_sender ON published_ids (sender, seq)');
    // Participants whose last socket dropped abruptly: announced as `left` at leave_at_ms unless they come back.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS pending_leaves (participant TEXT PRIMARY KEY, leave_at_ms INTEGER NOT NULL)`);
    // Presence events not yet in D1 (the outbox across two stores): each is written here with its
    // broadcast, in the same storage transaction, and copied to D1's events by the alarm.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL)`);
    ctx.setWebSocketAutoResponse(
      new WebSocketRequestResponsePair(JSON.stringify({ type: 'ping' } satisfies ClientFrame), serializeFrame({ type: 'pong' })),
    );
    // The newest message is never pruned, so the highest stored seq is the last one given out.
    this.lastSeq = this.sql.exec<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM messages').one().seq ?? 0;
    const ended = this.meta('ended');
    this.ended = ended === 'ended' || ended === 'expired' ? ended : undefined;
    const settings = this.meta('settings');
    // Written by configure() from a typed RoomSettings.
    this.settings = settings === undefined ? DEFAULT_SETTINGS : (JSON.parse(settings) as RoomSettings);
  }

  /**
   * The stream's epoch, made and stored when first needed rather than when the object wakes, so
   * that waking an erased room (a count of what it holds, a late call) writes nothing into it.
   */
  private get epoch(): string {
    if (this.epochValue !== undefined) return this.epochValue;
    let epoch = this.meta('epoch');
    if (epoch === undefined) {
      // A room with messages but no epoch predates epochs: its stream did not restart, so it keeps one from now on.
      epoch = `ep_${randomBase62(22)}`;
      this.setMeta('epoch', epoch);
    }
    this.epochValue = epoch;
    return epoch;
  }

  private meta(key: string): string | undefined {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0];
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }

  /** Keeps what the Worker read of the session, written only when it changed (the session's TTL or limits). */
  private configure(settings: RoomSettings): void {
    const current = this.settings;
    const same = (Object.keys(settings) as (keyof RoomSettings)[]).every((key) => settings[key] === current[key]);
    if (same) return;
    this.settings = { ...settings };
    this.setMeta('settings', JSON.stringify(this.settings));
  }

  /** Sequences, stores and sends one envelope to every connected socket. */
  private broadcast(unsequenced: Unsequenced<SessionMessage>): SessionMessage {
    const envelope = sequenced(unsequenced, this.lastSeq + 1, new Date().toISOString());
    this.sql.exec(
      'INSERT INTO messages (seq, type, sender, client_id, payload, ts) VALUES (?, ?, ?, ?, ?, ?)',
      envelope.seq,
      envelope.type,
      envelope.sender,
      envelope.type === 'message' ? (envelope.id ?? null) : null,
      JSON.stringify(envelope.payload),
      envelope.ts,
    );
    this.lastSeq = envelope.seq;
    if (envelope.seq % PRUNE_EVERY === 0) this.pruneHistory(envelope.sender);
    const frame = serializeFrame(envelope);
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.send(frame);
      } catch {
        // A socket closing under us; its close handler tidies up.
      }
    }
    return envelope;
  }

  /**
   * Drops messages past the session's history retention (count, then age) and message ids past
   * their window. The newest message is always kept: it is where the sequence continues.
   */
  private pruneHistory(sender: string): void {
    const { historyMaxMessages, historyMaxAgeSeconds } = this.settings;
    this.sql.exec('DELETE FROM messages WHERE seq <= ?', this.lastSeq - historyMaxMessages);
    // seq and ts grow together, so the first message young enough marks the cut (found walking up from the oldest).
    const fresh = this.sql
      .exec<{ seq: number }>('SELECT seq FROM messages WHERE ts >= ? ORDER BY seq LIMIT 1', this.historyCutoff(historyMaxAgeSeconds))
      .toArray()[0];
    this.sql.exec('DELETE FROM messages WHERE seq < ?', Math.min(fresh?.seq ?? this.lastSeq, this.lastSeq));
    this.sql.exec('DELETE FROM published_ids WHERE at_ms < ?', Date.now() - PUBLISH_ID_WINDOW.ms);
    this.sql.exec(
      'DELETE FROM published_ids WHERE sender = ?1 AND seq <= (SELECT seq FROM published_ids WHERE sender = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)',
      sender,
      PUBLISH_ID_WINDOW.perSender,
    );
  }

  /** The oldest seq within the session's count of retained messages. */
  private retainedFrom(): number {
    return this.lastSeq - this.settings.historyMaxMessages + 1;
  }

  private historyCutoff(maxAgeSeconds = this.settings.historyMaxAgeSeconds): string {
    return new Date(Date.now() - maxAgeSeconds * 1000).toISOString();
  }

  /**
   * Broadcasts a message, unless its publisher gave an id it already published within the window:
   * then nothing is sent and the first one's seq and time are returned.
   */
  private publishOnce(
    sender: string,
    id: string | undefined,
    payload: MessageFrame['payload'],
    broadcastId: string | undefined,
  ): { seq: number; ts: string; envelope: SessionMessage | undefined } {
    if (id !== undefined) {
      const first = this.sql
        .exec<{ seq: number; at_ms: number }>('SELECT seq, at_ms FROM published_ids WHERE sender = ? AND id = ?', sender, id)
        .toArray()[0];
      if (first !== undefined && first.at_ms >= Date.now() - PUBLISH_ID_WINDOW.ms) {
        return { seq: first.seq, ts: new Date(first.at_ms).toISOString(), envelope: undefined };
      }
    }
    const envelope = this.broadcast(
      broadcastId === undefined ? { type: 'message', sender, payload } : { type: 'message', sender, id: broadcastId, payload },
    );
    if (id !== undefined) {
      this.sql.exec(
        'INSERT INTO published_ids (sender, id, seq, at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (sender, id) DO UPDATE SET seq = excluded.seq, at_ms = excluded.at_ms',
        sender,
        id,
        envelope.seq,
        Date.parse(envelope.ts),
      );
    }
    return { seq: envelope.seq, ts: envelope.ts, envelope };
  }

  private endedReason(): 'ended' | 'expired' | undefined {
    if (this.ended !== undefined) return this.ended;
    const { expiresAt } = this.settings;
    return expiresAt !== '' && expiresAt <= new Date().toISOString() ? 'expired' : undefined;
  }

  /**
   * The WebSocket upgrade, forwarded by the Worker after it verified the token and the Origin; the
   * join details travel in headers (a Response carrying a WebSocket cannot come back over RPC).
   */
  override async fetch(request: Request): Promise<Response> {
    const join = readJoinHeaders(request.headers);
    if (!join || request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') return new Response(null, { status: 400 });
    return this.join(join);
  }

  private join(request: JoinRequest): Response {
    this.configure(request.settings);
    if (this.endedReason() !== undefined) return refuse('session_ended');
    if (request.deviceVersion !== undefined && this.isRemoved(request.participant, request.deviceVersion)) {
      return refuse('participant_not_allowed');
    }
    // A connect that read the key before its revocation reached the room cannot slip in after it.
    if (
      request.apiKeyId !== undefined &&
      this.sql.exec('SELECT 1 FROM revoked_keys WHERE api_key_id = ?', request.apiKeyId).toArray().length > 0
    ) {
      return refuse('token_revoked');
    }
    const sockets = this.ctx.getWebSockets();
    if (sockets.length >= this.settings.maxParticipants) return refuse('session_full');

    // The presence this socket joins: everyone with a socket, and everyone still within a grace period.
    const present = new Set(sockets.map((socket) => this.attachmentOf(socket).participant));
    const returning = this.sql.exec('DELETE FROM pending_leaves WHERE participant = ?', request.participant).rowsWritten > 0;
    for (const { participant } of this.sql.exec<{ participant: string }>('SELECT participant FROM pending_leaves'))
      present.add(participant);
    if (returning) present.add(request.participant);

    const { 0: client, 1: server } = new WebSocketPair();
    // Found by participant (removeParticipant) and by the key that minted its token (revokeApiKey).
    const tags = request.apiKeyId === undefined ? [request.participant] : [request.participant, keyTag(request.apiKeyId)];
    this.ctx.acceptWebSocket(server, tags);
    // The room's open sockets after this one, so a chart can show how full rooms get.
    recordEvent(this.telemetry(), { kind: 'websocket', name: 'connect', value: sockets.length + 1 });
    const attachment: Attachment = {
      participant: request.participant,
      connectedAt: new Date().toISOString(),
      lastAckSeq: request.lastSeq ?? 0,
      lastSeenMs: Date.now(),
    };
    this.saveAttachment(server, attachment);
    server.send(
      serializeFrame({
        type: 'welcome',
        epoch: this.epoch,
        seq: this.lastSeq,
        participants: [...present].sort(),
        limits: {
          max_frame_bytes: this.settings.maxFrameBytes,
          frames_per_second: this.settings.framesPerSecond,
          frame_burst: frameBurst(this.settings.framesPerSecond),
          presence_grace_seconds: this.settings.presenceGraceSeconds,
        },
      }),
    );
    // A last_seq from another epoch, or past the end of this one, counts in a stream that restarted: nothing to resume.
    const { lastSeq, epoch } = request;
    const resumable = lastSeq !== undefined && (epoch === undefined || epoch === this.epoch) && lastSeq <= this.lastSeq;
    if (resumable) this.replay(server, lastSeq);
    if (!present.has(request.participant)) this.announcePresence(request.participant, 'joined');
    void this.scheduleAlarm();
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: request.protocol ? { 'Sec-WebSocket-Protocol': request.protocol } : {},
    });
  }

  /**
   * Sends what came after `lastSeq`: at most REPLAY_LIMIT messages, announced by a `gap` for the
   * older part (and for anything retention already dropped), then `resumed`.
   */
  private replay(socket: WebSocket, lastSeq: number): void {
    const from = Math.max(lastSeq + 1, this.lastSeq - REPLAY_LIMIT + 1, this.retainedFrom());
    const rows = this.sql
      .exec<StoredMessage>(
        'SELECT seq, type, sender, client_id, payload, ts FROM messages WHERE seq >= ? AND ts >= ? ORDER BY seq',
        from,
        this.historyCutoff(),
      )
      .toArray();
    const firstReplayed = rows[0]?.seq ?? this.lastSeq + 1;
    if (firstReplayed > lastSeq + 1) socket.send(serializeFrame({ type: 'gap', from_seq: lastSeq + 1, to_seq: firstReplayed - 1 }));
    for (const row of rows) socket.send(serializeFrame(storedMessage(row)));
    socket.send(serializeFrame({ type: 'resumed', from_seq: Math.min(firstReplayed, this.lastSeq + 1), to_seq: this.lastSeq }));
  }

  /**
   * Whether the participant was removed by a device change newer than the read (`version`) that let
   * it in now. A newer read (the device enabled again) lifts the removal.
   */
  private isRemoved(participant: string, version: number): boolean {
    const removedAt = this.sql.exec<{ version: number }>('SELECT version FROM removed WHERE participant = ?', participant).toArray()[0];
    if (removedAt === undefined) return false;
    if (version <= removedAt.version) return true;
    this.sql.exec('DELETE FROM removed WHERE participant = ?', participant);
    return false;
  }

  /** Answers at once, touching no session: `/ready` calls it to learn whether SessionRoom objects answer. */
  ping(): true {
    return true;
  }

  /**
   * Closes the participant's sockets (4003) and refuses joins authorised by a read of its device
   * older than `version`: a connect that read the device before it was disabled cannot slip in after.
   */
  removeParticipant(participant: string, version: number): void {
    this.sql.exec(
      'INSERT INTO removed (participant, version) VALUES (?, ?) ON CONFLICT (participant) DO UPDATE SET version = max(version, excluded.version)',
      participant,
      version,
    );
    closeAll(this.ctx.getWebSockets(participant), CLOSE_CODES.participantRemoved, 'participant removed');
  }

  /**
   * Closes the sockets opened with tokens the key minted (4004) and refuses joins authorised by such
   * tokens from now on: a connect that read the key before it was revoked cannot slip in after.
   */
  revokeApiKey(apiKeyId: string): void {
    this.sql.exec('INSERT INTO revoked_keys (api_key_id) VALUES (?) ON CONFLICT (api_key_id) DO NOTHING', apiKeyId);
    closeAll(this.ctx.getWebSockets(keyTag(apiKeyId)), CLOSE_CODES.tokenRevoked, 'token revoked');
  }

  /**
   * A message from the HTTP API, sequenced like any other. With an id (the request's
   * Idempotency-Key), a repeat within the window is not broadcast again: the first envelope is
   * rebuilt from the same payload (the key's fingerprint guarantees it is the same request), so it
   * is the envelope the participants received even once history has dropped it.
   */
  publish(settings: RoomSettings, payload: MessageFrame['payload'], id?: string): PublishOutcome {
    this.configure(settings);
    if (this.endedReason() !== undefined) return { refused: 'session_ended' };
    // The key names the request to its sender, not the message to the session: it is not broadcast.
    const published = this.publishOnce('server', id, payload, undefined);
    if (published.envelope !== undefined) return { envelope: published.envelope, duplicate: false };
    return { envelope: { type: 'message', seq: published.seq, sender: 'server', payload, ts: published.ts }, duplicate: true };
  }

  /** Stored messages after `afterSeq`, oldest first, within the session's history retention. */
  history(settings: RoomSettings, afterSeq: number, limit: number): HistoryPage {
    this.configure(settings);
    // Both bounds apply to reads as well: rows past them may wait for the next prune, but are not served.
    const cutoff = this.historyCutoff();
    const retainedFrom = this.retainedFrom();
    const messages = this.sql
      .exec<StoredMessage>(
        'SELECT seq, type, sender, client_id, payload, ts FROM messages WHERE seq > ? AND seq >= ? AND ts >= ? ORDER BY seq LIMIT ?',
        afterSeq,
        retainedFrom,
        cutoff,
        Math.min(Math.max(1, limit), MAX_HISTORY_PAGE),
      )
      .toArray()
      .map(storedMessage);
    const earliest = this.sql
      .exec<{ seq: number }>('SELECT seq FROM messages WHERE seq >= ? AND ts >= ? ORDER BY seq LIMIT 1', retainedFrom, cutoff)
      .toArray()[0];
    return { epoch: this.epoch, messages, earliestSeq: earliest?.seq ?? this.lastSeq + 1, lastSeq: this.lastSeq };
  }

  private attachmentOf(socket: WebSocket): Attachment {
    let attachment = this.attachments.get(socket);
    if (attachment === undefined) {
      attachment = socket.deserializeAttachment() as Attachment;
      this.attachments.set(socket, attachment);
    }
    return attachment;
  }

  private saveAttachment(socket: WebSocket, attachment: Attachment): void {
    socket.serializeAttachment(attachment);
    this.attachments.set(socket, attachment);
  }

  participants(): ParticipantInfo[] {
    return this.ctx.getWebSockets().map((socket) => {
      const attachment = socket.deserializeAttachment() as Attachment;
      return { participant: attachment.participant, connectedAt: attachment.connectedAt, lastAckSeq: attachment.lastAckSeq };
    });
  }

  /** Ends the session: every socket is closed with 4000 (4001 when it expired), no new one is accepted. */
  end(reason: 'ended' | 'expired'): void {
    if (this.ended === undefined) {
      this.setMeta('ended', reason);
      this.ended = reason;
    }
    this.sql.exec('DELETE FROM pending_leaves');
    const code = reason === 'expired' ? CLOSE_CODES.sessionExpired : CLOSE_CODES.sessionEnded;
    closeAll(this.ctx.getWebSockets(), code, reason === 'expired' ? 'session expired' : 'session ended');
  }

  /**
   * Erases what the room keeps of a session that is over (the scheduled run calls it once the
   * retention grace has passed): its messages and message ids, its removed participants and
   * revoked keys, its alarm. Rows are deleted rather than `storage.deleteAll()`: the end is
   * recorded first and kept, so the room still refuses every join as ended on its own (after a
   * wipe it would look like a new room), and the tables this instance's statements use stay in
   * place. Repeating it is harmless. Returns how many messages were erased.
   */
  async purgeMessages(reason: 'ended' | 'expired'): Promise<number> {
    this.end(reason);
    const erased = this.sql.exec('DELETE FROM messages').rowsWritten;
    this.sql.exec('DELETE FROM published_ids');
    this.sql.exec('DELETE FROM removed');
    this.sql.exec('DELETE FROM revoked_keys');
    await this.ctx.storage.deleteAlarm();
    return erased;
  }

  /**
   * Erases everything the room keeps, for the erasure of its organisation: every socket is closed
   * with 4010 (`organization_erased`) and told nothing more, the alarm is cleared and the storage
   * deleted (`deleteAll`: every table, with the end, the messages, the outbox). Sockets lose their
   * attachment before they close, so their close handlers announce no departure (which would write
   * a message and an outbox row into the emptied storage), whether this instance or a later one
   * runs them. This instance then refuses everything as ended; nothing reaches it anyway, since
   * every key of the organisation is revoked first. Repeating it is harmless.
   */
  async erase(): Promise<void> {
    this.ended = 'ended';
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.serializeAttachment(null);
      } catch {
        // Already closed: nothing will be announced for it.
      }
    }
    closeAll(this.ctx.getWebSockets(), CLOSE_CODES.organizationErased, 'organization erased');
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  /**
   * Removes a participant's messages and presence announcements from the history, the ids of its
   * publishes and its presence events not yet written to D1, for the erasure of its device
   * (`DELETE /v1/devices/{id}?erase=true`). The history is bounded (`historyMaxMessages`, pruned as
   * it grows), so one call deletes a bounded number of rows. Sequence numbers are not reused: the
   * stream goes on from its last `seq`, which is kept (`lastSeq` is in memory and the next broadcast
   * follows it). Returns how many messages were removed; repeating it is harmless.
   */
  eraseParticipant(participant: string): number {
    const erased = this.sql.exec('DELETE FROM messages WHERE sender = ?', participant).rowsWritten;
    this.sql.exec('DELETE FROM published_ids WHERE sender = ?', participant);
    this.sql.exec('DELETE FROM pending_leaves WHERE participant = ?', participant);
    this.sql.exec(`DELETE FROM outbox WHERE json_extract(data, '$.participant') = ?`, participant);
    return erased;
  }

  /** Takes one token from the socket's bucket; false when it is empty (the frame is dropped). */
  private admitFrame(socket: WebSocket, now: number): { admitted: true } | { admitted: false; retryAfterMs: number; abusive: boolean } {
    const perSecond = this.settings.framesPerSecond;
    const burst = frameBurst(perSecond);
    let budget = this.budgets.get(socket);
    if (budget === undefined) {
      budget = { tokens: burst, refilledAtMs: now, refused: 0, windowStartMs: now };
      this.budgets.set(socket, budget);
    }
    budget.tokens = Math.min(burst, budget.tokens + ((now - budget.refilledAtMs) * perSecond) / 1000);
    budget.refilledAtMs = now;
    if (budget.tokens >= 1) {
      budget.tokens -= 1;
      return { admitted: true };
    }
    if (now - budget.windowStartMs > ABUSE_LIMIT.windowMs) {
      budget.windowStartMs = now;
      budget.refused = 0;
    }
    budget.refused += 1;
    const retryAfterMs = Math.ceil(((1 - budget.tokens) * 1000) / perSecond);
    return { admitted: false, retryAfterMs, abusive: budget.refused > ABUSE_LIMIT.refusedFrames };
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const { maxFrameBytes } = this.settings;
    const attachment = this.attachmentOf(socket);
    if (exceedsFrameLimit(message, maxFrameBytes)) {
      this.frameRefused(attachment, 'frame_too_big');
      socket.close(CLOSE_CODES.frameTooBig, `frames are limited to ${maxFrameBytes} bytes`);
      return;
    }
    const now = Date.now();
    // The stale sweep needs last-seen only to the nearest few seconds; rewriting the attachment on
    // every frame of a busy publisher would cost more than the broadcast's own storage.
    let changed = now - attachment.lastSeenMs >= LAST_SEEN_RESOLUTION_MS;
    if (changed) attachment.lastSeenMs = now;
    // The same strict reading as an HTTP body (depth, NUL, surrogates, reserved and repeated keys).
    const json = typeof message === 'string' ? parseStrictJson(message) : undefined;
    const frame = json?.ok ? ClientFrameSchema.safeParse(json.value) : undefined;
    const admission = this.admitFrame(socket, now);
    if (!admission.admitted) {
      if (changed) this.saveAttachment(socket, attachment);
      if (admission.abusive) {
        this.frameRefused(attachment, 'frame_rate_abuse');
        socket.close(CLOSE_CODES.rateLimited, 'too many frames');
        return;
      }
      const id = json?.ok ? claimedMessageId(json.value) : undefined;
      socket.send(
        serializeFrame({
          type: 'error',
          code: 'rate_limited',
          detail: `At most ${this.settings.framesPerSecond} frames a second (bursts of ${frameBurst(this.settings.framesPerSecond)}); this one was dropped.`,
          retry_after_ms: admission.retryAfterMs,
          ...(id === undefined ? {} : { id }),
        }),
      );
      return;
    }
    if (frame?.data?.type === 'ack' && frame.data.seq > attachment.lastAckSeq) {
      attachment.lastAckSeq = frame.data.seq;
      changed = true;
    }
    if (changed) this.saveAttachment(socket, attachment);
    if (frame === undefined) {
      const detail = json && !json.ok ? frameViolation(json.violation) : 'Frames are JSON text.';
      this.frameRefused(attachment, json && !json.ok ? `json_${json.violation.kind}` : 'not_text');
      socket.send(serializeFrame({ type: 'error', code: 'invalid_frame', detail }));
      return;
    }
    if (!frame.success) {
      const detail = frame.error.issues.map((issue) => issue.message).join('; ');
      this.frameRefused(attachment, 'not_a_client_frame');
      const id = json?.ok ? claimedMessageId(json.value) : undefined;
      socket.send(serializeFrame({ type: 'error', code: 'invalid_frame', detail, ...(id === undefined ? {} : { id }) }));
      return;
    }
    if (frame.data.type === 'ack') return;
    // A ping the auto-response did not match byte for byte (other spacing) still gets its pong.
    if (frame.data.type === 'ping') {
      socket.send(serializeFrame({ type: 'pong' }));
      return;
    }
    if (this.endedReason() !== undefined) {
      socket.close(CLOSE_CODES.sessionEnded, 'session ended');
      return;
    }
    const { id, payload } = frame.data;
    const published = this.publishOnce(attachment.participant, id, payload, id);
    if (id !== undefined)
      socket.send(serializeFrame({ type: 'published', id, seq: published.seq, duplicate: published.envelope === undefined }));
  }

  override async webSocketClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    const attachment = socket.deserializeAttachment() as Attachment | null;
    recordEvent(this.telemetry(), {
      kind: 'websocket',
      name: 'disconnect',
      detail: closeCodeName(code),
      value: code,
      durationMs: attachment ? Date.now() - Date.parse(attachment.connectedAt) : 0,
    });
    try {
      // The client's own code back (no 1006 on its side); 1005 means it sent none.
      socket.close(code === 1005 ? CLOSE_CODES.normal : code, reason);
    } catch {
      // Already closed.
    }
    if (attachment) await this.leave(socket, attachment.participant, ABRUPT_CLOSE_CODES.has(code));
  }

  override async webSocketError(socket: WebSocket): Promise<void> {
    await this.webSocketClose(socket, CLOSE_CODES.serverError, 'error');
  }

  /**
   * A socket is gone. Its participant leaves only with its last socket; after an abrupt close it
   * stays present for the grace period, so a quick reconnect announces nothing.
   */
  private async leave(closed: WebSocket, participant: string, abrupt: boolean): Promise<void> {
    if (this.endedReason() !== undefined) return;
    const others = this.ctx.getWebSockets(participant).filter((socket) => socket !== closed && socket.readyState !== WebSocket.CLOSED);
    if (others.length > 0) return;
    const graceMs = this.settings.presenceGraceSeconds * 1000;
    if (!abrupt || graceMs === 0) {
      this.announcePresence(participant, 'left');
      await this.scheduleAlarm();
      return;
    }
    this.sql.exec(
      'INSERT INTO pending_leaves (participant, leave_at_ms) VALUES (?, ?) ON CONFLICT (participant) DO UPDATE SET leave_at_ms = excluded.leave_at_ms',
      participant,
      Date.now() + graceMs,
    );
    await this.scheduleAlarm();
  }

  /**
   * Broadcasts a participant's arrival or departure and keeps its event in the outbox, in the same
   * storage transaction (no await between them), for the alarm to write to D1.
   */
  private announcePresence(participant: string, change: 'joined' | 'left'): void {
    // Two sockets of one participant closing together each find the other closed: one leave only.
    if (change === 'left' && this.departed.has(participant)) return;
    if (change === 'left') this.departed.add(participant);
    else this.departed.delete(participant);
    const envelope = this.broadcast({ type: 'presence', sender: participant, payload: { event: change } });
    const { orgId, sessionId } = this.settings;
    if (orgId === undefined || sessionId === undefined) return;
    const data: SessionPresenceChange = { session_id: sessionId, participant, seq: envelope.seq, at: envelope.ts };
    this.sql.exec(
      'INSERT INTO outbox (id, org_id, type, data) VALUES (?, ?, ?, ?)',
      newId('event'),
      orgId,
      `session.participant_${change}`,
      JSON.stringify(data),
    );
  }

  /**
   * Copies the outbox to D1's events (an event already there is not written twice), forgets what
   * was copied, and dispatches the organisation's events to its webhooks. A failure leaves the
   * outbox as it was, to be tried again in {@link OUTBOX_RETRY_MS}; the sweep dispatches what a
   * failed dispatch left.
   */
  private async drainOutbox(): Promise<void> {
    if (this.outboxRetryAtMs !== undefined && this.outboxRetryAtMs > Date.now()) return;
    const rows = this.sql.exec<OutboxRow>('SELECT id, org_id, type, data FROM outbox ORDER BY rowid LIMIT ?', OUTBOX_BATCH).toArray();
    if (rows.length === 0) return;
    const loaded = loadConfig(this.env as object);
    const logger = createLogger(loaded.ok ? loaded.config.logLevel : 'info', { session_id: this.settings.sessionId });
    if (!loaded.ok) {
      logger.error('session room cannot write its presence events: the configuration is invalid', { problems: loaded.problems });
      this.outboxRetryAtMs = Date.now() + OUTBOX_RETRY_MS;
      return;
    }
    const config = { ...loaded.config, db: guardD1(loaded.config.db, { telemetry: { dataset: loaded.config.metrics } }) };
    // Stamped when written to D1, not when it happened (`data.at`): the events list pages in the
    // order events are written, and a cursor already past an older time would never show it.
    const createdAt = new Date().toISOString();
    try {
      await config.db.batch(
        rows.map((row) => events.insertEventOnce(config.db, { id: row.id, orgId: row.org_id, type: row.type, data: row.data, createdAt })),
      );
    } catch (error) {
      logger.warn('session room could not write its presence events to D1; retrying', { events: rows.length, error });
      this.outboxRetryAtMs = Date.now() + OUTBOX_RETRY_MS;
      return;
    }
    this.outboxRetryAtMs = undefined;
    this.sql.exec('DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify(rows.map((row) => row.id)));
    for (const orgId of new Set(rows.map((row) => row.org_id))) {
      await dispatchEvents(config, { orgId }).catch((error: unknown) =>
        logger.warn('could not dispatch events; the sweep will', { error }),
      );
    }
  }

  /** Writes presence events to D1, ends an expired session, announces leaves whose grace is over, closes stale sockets, and comes back while needed. */
  override async alarm(): Promise<void> {
    await this.drainOutbox();
    if (this.endedReason() === 'expired' && this.ended === undefined) this.end('expired');
    const now = Date.now();
    for (const { participant } of this.sql
      .exec<{ participant: string }>('DELETE FROM pending_leaves WHERE leave_at_ms <= ? RETURNING participant', now)
      .toArray()) {
      this.announcePresence(participant, 'left');
    }
    for (const socket of this.ctx.getWebSockets()) {
      // Read from the socket, not the cache: the sweep is rare and must judge what was last stored.
      const attachment = socket.deserializeAttachment() as Attachment;
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(socket)?.getTime() ?? 0;
      // lastSeenMs may lag by up to its resolution: never close a socket that spoke within STALE_AFTER_MS.
      const silentFor = now - Math.max(attachment.lastSeenMs + LAST_SEEN_RESOLUTION_MS, pinged);
      if (silentFor > STALE_AFTER_MS) socket.close(CLOSE_CODES.stale, 'no ping for 60 s');
    }
    await this.scheduleAlarm();
  }

  /** Where the room's metrics go: its organisation's, once the room knows it (every join tells it). */
  private telemetry(): Telemetry {
    const loaded = loadConfig(this.env as object);
    return { dataset: loaded.ok ? loaded.config.metrics : undefined, orgId: this.settings.orgId };
  }

  private logger(): Logger {
    const loaded = loadConfig(this.env as object);
    return createLogger(loaded.ok ? loaded.config.logLevel : 'info', { session_id: this.settings.sessionId });
  }

  /**
   * A frame refused as invalid, too big or one too many: a security event. Invalid frames are bounded
   * by the frame rate limit, so an attacker cannot make more of these lines than of frames it may send.
   */
  private frameRefused(attachment: Attachment, reason: string): void {
    recordSecurityEvent(this.logger(), this.telemetry(), {
      event: 'frame_refused',
      reason,
      details: { participant: attachment.participant },
    });
  }

  private async scheduleAlarm(): Promise<void> {
    const expiresAt = Date.parse(this.settings.expiresAt);
    const ended = this.ended !== undefined;
    const candidates = [];
    if (!ended && Number.isFinite(expiresAt)) candidates.push(Math.max(expiresAt, Date.now()));
    if (this.ctx.getWebSockets().length > 0) candidates.push(Date.now() + SWEEP_EVERY_MS);
    const nextLeave = this.sql.exec<{ at: number | null }>('SELECT min(leave_at_ms) AS at FROM pending_leaves').one().at;
    if (nextLeave !== null) candidates.push(nextLeave);
    if (this.sql.exec('SELECT 1 FROM outbox LIMIT 1').toArray().length > 0) candidates.push(this.outboxRetryAtMs ?? Date.now());
    if (candidates.length === 0) return;
    await this.ctx.storage.setAlarm(Math.min(...candidates));
  }
}

/**
 * The message id a refused frame carried, when it is a well-formed one: the error frame names it,
 * so a client can tell which of its messages was refused even when the frame is otherwise invalid.
 */
function claimedMessageId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !('id' in value)) return undefined;
  const id = MessageIdSchema.safeParse(value.id);
  return id.success ? id.data : undefined;
}

/** A close code's name in the metrics: the protocol's own names (schemas/realtime.ts), else the RFC 6455 ones. */
function closeCodeName(code: number): string {
  const named = CLOSE_CODE_TABLE.find((row) => row.code === code)?.name;
  if (named !== undefined) return named;
  if (code === 1005) return 'no_status';
  if (code === 1006) return 'abnormal';
  return 'other';
}

function closeAll(sockets: WebSocket[], code: number, reason: string): void {
  for (const socket of sockets) {
    try {
      socket.close(code, reason);
    } catch {
      // Already closing.
    }
  }
}

/**
 * The one way a frame leaves the room: typed as a `ServerFrame`, so TypeScript refuses a frame the
 * spec does not declare.
 */
function serializeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * A broadcast with its place in the sequence, `type` first as in every frame: subscribers may
 * classify a frame by its first bytes (the bench's fan-out counter does).
 */
function sequenced(frame: Unsequenced<SessionMessage>, seq: number, ts: string): SessionMessage {
  if (frame.type === 'presence') return { type: 'presence', seq, sender: frame.sender, payload: frame.payload, ts };
  return frame.id === undefined
    ? { type: 'message', seq, sender: frame.sender, payload: frame.payload, ts }
    : { type: 'message', seq, sender: frame.sender, id: frame.id, payload: frame.payload, ts };
}

/** A stored broadcast, as it was first sent. */
function storedMessage(row: StoredMessage): SessionMessage {
  // JSON text never parses to undefined; and only broadcast() writes these rows, from a typed frame.
  const payload = JSON.parse(row.payload) as MessageFrame['payload'];
  const frame: Unsequenced<SessionMessage> =
    row.type === 'presence'
      ? { type: 'presence', sender: row.sender, payload: payload as PresenceFrame['payload'] }
      : row.client_id === null
        ? { type: 'message', sender: row.sender, payload }
        : { type: 'message', sender: row.sender, id: row.client_id, payload };
  return sequenced(frame, row.seq, row.ts);
}

/** A frame over `limit` bytes of UTF-8; a string is only encoded when its length leaves it in doubt. */
function exceedsFrameLimit(message: string | ArrayBuffer, limit: number): boolean {
  if (typeof message !== 'string') return message.byteLength > limit;
  // UTF-8 takes at least one byte and at most three per UTF-16 code unit.
  if (message.length > limit) return true;
  if (message.length * 3 <= limit) return false;
  return new TextEncoder().encode(message).byteLength > limit;
}

/** What an error frame says of a frame parseStrictJson refused: what is wrong, and where (RFC 6901 pointer). */
function frameViolation({ kind, pointer, detail }: JsonViolation): string {
  if (kind === 'malformed') return `Frames are JSON text: ${detail}`;
  return `${detail} at ${pointer === '' ? 'the top level' : pointer}`;
}

/** The tag of a socket opened with a token the key minted; no participant looks like it (`dev_…`, `client:…`). */
function keyTag(apiKeyId: string): string {
  return `key:${apiKeyId}`;
}

function refuse(reason: JoinRefusal): Response {
  return new Response(null, { status: 409, headers: { [JOIN_REFUSAL_HEADER]: reason } });
}
