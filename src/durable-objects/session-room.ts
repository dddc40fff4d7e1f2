/**
 * @module
 * One Durable Object per session: it accepts the session's WebSockets (hibernation API, so an
 * idle room costs nothing), gives every broadcast the next sequence number, keeps the last
 * {@link RETAINED_MESSAGES} in its SQLite storage, replays what a reconnecting client missed, and
 * ends the session when asked or when its TTL runs out (alarm). Ping frames are answered by the
 * runtime (`setWebSocketAutoResponse`) without waking the object; an alarm closes sockets that
 * have been silent too long. Every frame it sends is a `ServerFrame` (src/schemas/realtime.ts),
 * serialised by {@link serializeFrame} only.
 */
import { DurableObject } from 'cloudflare:workers';
import { type JsonViolation, parseStrictJson } from '../lib/json-inspect.ts';
import {
  CLOSE_CODES,
  type ClientFrame,
  ClientFrameSchema,
  MAX_FRAME_BYTES,
  type MessageFrame,
  type PresenceFrame,
  type ServerFrame,
  type SessionMessage,
} from '../schemas/realtime.ts';
import { JOIN_REFUSAL_HEADER, type JoinRefusal, type JoinRequest, readJoinHeaders } from './session-room-protocol.ts';

export const RETAINED_MESSAGES = 1000;
/** Older messages are pruned every this many, not on every broadcast: one statement less per message. */
export const PRUNE_EVERY = 64;
/** A socket that sent nothing (not even a ping) for this long is closed. */
export const STALE_AFTER_MS = 60_000;
const SWEEP_EVERY_MS = 30_000;
/** How stale the recorded last-seen time of a socket may be; a socket is closed only once surely silent. */
export const LAST_SEEN_RESOLUTION_MS = 5_000;

interface Attachment {
  participant: string;
  connectedAt: string;
  lastAckSeq: number;
  lastSeenMs: number;
}

/** A broadcast before the room gives it its place in the sequence. */
type Unsequenced<Frame> = Frame extends SessionMessage ? Omit<Frame, 'seq' | 'ts'> : never;

// A type, not an interface: sql.exec wants a row type with an index signature.
type StoredMessage = {
  seq: number;
  type: SessionMessage['type'];
  sender: string;
  payload: string;
  ts: string;
};

export interface ParticipantInfo {
  participant: string;
  connectedAt: string;
  lastAckSeq: number;
}

export class SessionRoom extends DurableObject {
  private readonly sql: SqlStorage;
  // Mirrors of what storage holds, read once per wake-up: a broadcast then costs one INSERT and one
  // DELETE, not four more statements to find the next seq and whether the session is still open.
  private lastSeq: number;
  private ended: 'ended' | 'expired' | undefined;
  private expiresAt: string | undefined;
  // Each socket's attachment as last written, so a frame does not deserialize it again.
  private readonly attachments = new WeakMap<WebSocket, Attachment>();

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, sender TEXT NOT NULL, payload TEXT NOT NULL, ts TEXT NOT NULL)`,
    );
    // Participants removed from the session (a device disabled or deleted), with the device version
    // that removed them: a join authorised by an older read of the device is refused.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS removed (participant TEXT PRIMARY KEY, version INTEGER NOT NULL)`);
    ctx.setWebSocketAutoResponse(
      new WebSocketRequestResponsePair(JSON.stringify({ type: 'ping' } satisfies ClientFrame), serializeFrame({ type: 'pong' })),
    );
    // The newest message is never pruned, so the highest stored seq is the last one given out.
    this.lastSeq = this.sql.exec<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM messages').one().seq ?? 0;
    const ended = this.meta('ended');
    this.ended = ended === 'ended' || ended === 'expired' ? ended : undefined;
    this.expiresAt = this.meta('expires_at');
  }

  private meta(key: string): string | undefined {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0];
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }

  /** Sequences, stores and sends one envelope to every connected socket. */
  private broadcast(unsequenced: Unsequenced<SessionMessage>): SessionMessage {
    const envelope = sequenced(unsequenced, this.lastSeq + 1, new Date().toISOString());
    this.sql.exec(
      'INSERT INTO messages (seq, type, sender, payload, ts) VALUES (?, ?, ?, ?, ?)',
      envelope.seq,
      envelope.type,
      envelope.sender,
      JSON.stringify(envelope.payload),
      envelope.ts,
    );
    this.lastSeq = envelope.seq;
    if (envelope.seq % PRUNE_EVERY === 0) this.sql.exec('DELETE FROM messages WHERE seq <= ?', envelope.seq - RETAINED_MESSAGES);
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

  private endedReason(): 'ended' | 'expired' | undefined {
    if (this.ended !== undefined) return this.ended;
    return this.expiresAt !== undefined && this.expiresAt <= new Date().toISOString() ? 'expired' : undefined;
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
    if (request.expiresAt !== this.expiresAt) {
      this.setMeta('expires_at', request.expiresAt);
      this.expiresAt = request.expiresAt;
    }
    if (this.endedReason() !== undefined) return refuse('session_ended');
    if (request.deviceVersion !== undefined && this.isRemoved(request.participant, request.deviceVersion)) {
      return refuse('participant_not_allowed');
    }
    if (this.ctx.getWebSockets().length >= request.maxParticipants) return refuse('session_full');

    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [request.participant]);
    const attachment: Attachment = {
      participant: request.participant,
      connectedAt: new Date().toISOString(),
      lastAckSeq: request.lastSeq ?? 0,
      lastSeenMs: Date.now(),
    };
    server.serializeAttachment(attachment);
    if (request.lastSeq !== undefined) {
      for (const row of this.sql.exec<StoredMessage>(
        'SELECT seq, type, sender, payload, ts FROM messages WHERE seq > ? ORDER BY seq',
        request.lastSeq,
      )) {
        server.send(serializeFrame(storedMessage(row)));
      }
    }
    this.broadcast({ type: 'presence', sender: request.participant, payload: { event: 'joined' } });
    void this.scheduleAlarm();
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: request.protocol ? { 'Sec-WebSocket-Protocol': request.protocol } : {},
    });
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
    for (const socket of this.ctx.getWebSockets(participant)) {
      try {
        socket.close(CLOSE_CODES.participantRemoved, 'participant removed');
      } catch {
        // Already closing.
      }
    }
  }

  /** A message from the HTTP API, sequenced like any other. */
  publish(payload: MessageFrame['payload']): SessionMessage | { refused: JoinRefusal } {
    if (this.endedReason() !== undefined) return { refused: 'session_ended' };
    return this.broadcast({ type: 'message', sender: 'server', payload });
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
    const code = reason === 'expired' ? CLOSE_CODES.sessionExpired : CLOSE_CODES.sessionEnded;
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.close(code, reason === 'expired' ? 'session expired' : 'session ended');
      } catch {
        // Already closing.
      }
    }
  }

  /**
   * Erases what the room keeps of a session that is over (the scheduled run calls it once the
   * retention grace has passed): its messages, its removed participants, its alarm. Rows are
   * deleted rather than `storage.deleteAll()`: the end is recorded first and kept, so the room
   * still refuses every join as ended on its own (after a wipe it would look like a new room), and
   * the tables this instance's statements use stay in place. Repeating it is harmless. Returns how
   * many messages were erased.
   */
  async purgeMessages(reason: 'ended' | 'expired'): Promise<number> {
    this.end(reason);
    const erased = this.sql.exec('DELETE FROM messages').rowsWritten;
    this.sql.exec('DELETE FROM removed');
    await this.ctx.storage.deleteAlarm();
    return erased;
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (exceedsFrameLimit(message)) {
      socket.close(1009, `frames are limited to ${MAX_FRAME_BYTES} bytes`);
      return;
    }
    const attachment = this.attachmentOf(socket);
    const now = Date.now();
    // The stale sweep needs last-seen only to the nearest few seconds; rewriting the attachment on
    // every frame of a busy publisher would cost more than the broadcast's own storage.
    let changed = now - attachment.lastSeenMs >= LAST_SEEN_RESOLUTION_MS;
    if (changed) attachment.lastSeenMs = now;
    // The same strict reading as an HTTP body (depth, NUL, surrogates, reserved and repeated keys).
    const json = typeof message === 'string' ? parseStrictJson(message) : undefined;
    const frame = json?.ok ? ClientFrameSchema.safeParse(json.value) : undefined;
    if (frame?.data?.type === 'ack' && frame.data.seq > attachment.lastAckSeq) {
      attachment.lastAckSeq = frame.data.seq;
      changed = true;
    }
    if (changed) this.saveAttachment(socket, attachment);
    if (frame === undefined) {
      const detail = json && !json.ok ? frameViolation(json.violation) : 'Frames are JSON text.';
      socket.send(serializeFrame({ type: 'error', code: 'invalid_frame', detail }));
      return;
    }
    if (!frame.success) {
      const detail = frame.error.issues.map((issue) => issue.message).join('; ');
      socket.send(serializeFrame({ type: 'error', code: 'invalid_frame', detail }));
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
    this.broadcast({ type: 'message', sender: attachment.participant, payload: frame.data.payload });
  }

  override async webSocketClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    const attachment = socket.deserializeAttachment() as Attachment | null;
    try {
      socket.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
    if (attachment && this.endedReason() === undefined) {
      this.broadcast({ type: 'presence', sender: attachment.participant, payload: { event: 'left' } });
    }
  }

  override async webSocketError(socket: WebSocket): Promise<void> {
    await this.webSocketClose(socket, 1011, 'error');
  }

  /** Ends an expired session, closes stale sockets, and comes back while anyone is connected. */
  override async alarm(): Promise<void> {
    if (this.endedReason() === 'expired' && this.ended === undefined) this.end('expired');
    const now = Date.now();
    for (const socket of this.ctx.getWebSockets()) {
      const attachment = socket.deserializeAttachment() as Attachment;
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(socket)?.getTime() ?? 0;
      // lastSeenMs may lag by up to its resolution: never close a socket that spoke within STALE_AFTER_MS.
      const silentFor = now - Math.max(attachment.lastSeenMs + LAST_SEEN_RESOLUTION_MS, pinged);
      if (silentFor > STALE_AFTER_MS) socket.close(CLOSE_CODES.stale, 'no ping for 60 s');
    }
    await this.scheduleAlarm();
  }

  private async scheduleAlarm(): Promise<void> {
    const expiresAt = Date.parse(this.expiresAt ?? '');
    const ended = this.ended !== undefined;
    const candidates = [];
    if (!ended && Number.isFinite(expiresAt)) candidates.push(Math.max(expiresAt, Date.now()));
    if (this.ctx.getWebSockets().length > 0) candidates.push(Date.now() + SWEEP_EVERY_MS);
    if (candidates.length === 0) return;
    await this.ctx.storage.setAlarm(Math.min(...candidates));
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
  return frame.type === 'presence'
    ? { type: 'presence', seq, sender: frame.sender, payload: frame.payload, ts }
    : { type: 'message', seq, sender: frame.sender, payload: frame.payload, ts };
}

/** A stored broadcast, as it was first sent. */
function storedMessage(row: StoredMessage): SessionMessage {
  // JSON text never parses to undefined; and only broadcast() writes these rows, from a typed frame.
  const payload = JSON.parse(row.payload) as MessageFrame['payload'];
  const frame: Unsequenced<SessionMessage> =
    row.type === 'presence'
      ? { type: 'presence', sender: row.sender, payload: payload as PresenceFrame['payload'] }
      : { type: 'message', sender: row.sender, payload };
  return sequenced(frame, row.seq, row.ts);
}

/** A frame over MAX_FRAME_BYTES of UTF-8; a string is only encoded when its length leaves it in doubt. */
function exceedsFrameLimit(message: string | ArrayBuffer): boolean {
  if (typeof message !== 'string') return message.byteLength > MAX_FRAME_BYTES;
  // UTF-8 takes at least one byte and at most three per UTF-16 code unit.
  if (message.length > MAX_FRAME_BYTES) return true;
  if (message.length * 3 <= MAX_FRAME_BYTES) return false;
  return new TextEncoder().encode(message).byteLength > MAX_FRAME_BYTES;
}

/** What an error frame says of a frame parseStrictJson refused: what is wrong, and where (RFC 6901 pointer). */
function frameViolation({ kind, pointer, detail }: JsonViolation): string {
  if (kind === 'malformed') return `Frames are JSON text: ${detail}`;
  return `${detail} at ${pointer === '' ? 'the top level' : pointer}`;
}

function refuse(reason: JoinRefusal): Response {
  return new Response(null, { status: 409, headers: { [JOIN_REFUSAL_HEADER]: reason } });
}
