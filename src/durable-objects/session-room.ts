/**
 * @module
 * One Durable Object per session: it accepts the session's WebSockets (hibernation API, so an
 * idle room costs nothing), gives every broadcast the next sequence number, keeps the last
 * {@link RETAINED_MESSAGES} in its SQLite storage, replays what a reconnecting client missed, and
 * ends the session when asked or when its TTL runs out (alarm). Ping frames are answered by the
 * runtime (`setWebSocketAutoResponse`) without waking the object; an alarm closes sockets that
 * have been silent too long.
 */
import { DurableObject } from 'cloudflare:workers';
import { CLOSE_CODES, ClientFrameSchema, MAX_FRAME_BYTES, type SessionMessage } from '../schemas/realtime.ts';
import { JOIN_REFUSAL_HEADER, type JoinRefusal, type JoinRequest, readJoinHeaders } from './session-room-protocol.ts';

export const RETAINED_MESSAGES = 1000;
/** A socket that sent nothing (not even a ping) for this long is closed. */
export const STALE_AFTER_MS = 60_000;
const SWEEP_EVERY_MS = 30_000;

interface Attachment {
  participant: string;
  connectedAt: string;
  lastAckSeq: number;
  lastSeenMs: number;
}

export interface ParticipantInfo {
  participant: string;
  connectedAt: string;
  lastAckSeq: number;
}

export class SessionRoom extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, sender TEXT NOT NULL, payload TEXT NOT NULL, ts TEXT NOT NULL)`,
    );
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  private meta(key: string): string | undefined {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0];
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }

  private nextSeq(): number {
    const row = this.sql.exec<{ seq: number }>('SELECT MAX(seq) AS seq FROM messages').toArray()[0];
    const stored = Number(this.meta('last_seq') ?? 0);
    return Math.max(row?.seq ?? 0, stored) + 1;
  }

  /** Sequences, stores and sends one envelope to every connected socket. */
  private broadcast(type: SessionMessage['type'], sender: string, payload: unknown): SessionMessage {
    const envelope: SessionMessage = { type, seq: this.nextSeq(), sender, payload, ts: new Date().toISOString() };
    this.sql.exec(
      'INSERT INTO messages (seq, type, sender, payload, ts) VALUES (?, ?, ?, ?, ?)',
      envelope.seq,
      type,
      sender,
      JSON.stringify(payload),
      envelope.ts,
    );
    this.setMeta('last_seq', String(envelope.seq));
    this.sql.exec('DELETE FROM messages WHERE seq <= ?', envelope.seq - RETAINED_MESSAGES);
    const frame = JSON.stringify(envelope);
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
    const ended = this.meta('ended');
    if (ended === 'ended' || ended === 'expired') return ended;
    const expiresAt = this.meta('expires_at');
    return expiresAt !== undefined && expiresAt <= new Date().toISOString() ? 'expired' : undefined;
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
    this.setMeta('expires_at', request.expiresAt);
    if (this.endedReason() !== undefined) return refuse('session_ended');
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
      for (const row of this.sql.exec<{ seq: number; type: SessionMessage['type']; sender: string; payload: string; ts: string }>(
        'SELECT seq, type, sender, payload, ts FROM messages WHERE seq > ? ORDER BY seq',
        request.lastSeq,
      )) {
        server.send(JSON.stringify({ type: row.type, seq: row.seq, sender: row.sender, payload: JSON.parse(row.payload), ts: row.ts }));
      }
    }
    this.broadcast('presence', request.participant, { event: 'joined' });
    void this.scheduleAlarm();
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: request.protocol ? { 'Sec-WebSocket-Protocol': request.protocol } : {},
    });
  }

  /** A message from the HTTP API, sequenced like any other. */
  publish(payload: unknown): SessionMessage | { refused: JoinRefusal } {
    if (this.endedReason() !== undefined) return { refused: 'session_ended' };
    return this.broadcast('message', 'server', payload);
  }

  participants(): ParticipantInfo[] {
    return this.ctx.getWebSockets().map((socket) => {
      const attachment = socket.deserializeAttachment() as Attachment;
      return { participant: attachment.participant, connectedAt: attachment.connectedAt, lastAckSeq: attachment.lastAckSeq };
    });
  }

  /** Ends the session: every socket is closed with 4000 (4001 when it expired), no new one is accepted. */
  end(reason: 'ended' | 'expired'): void {
    if (this.meta('ended') === undefined) this.setMeta('ended', reason);
    const code = reason === 'expired' ? CLOSE_CODES.sessionExpired : CLOSE_CODES.sessionEnded;
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.close(code, reason === 'expired' ? 'session expired' : 'session ended');
      } catch {
        // Already closing.
      }
    }
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message).byteLength : message.byteLength;
    if (bytes > MAX_FRAME_BYTES) {
      socket.close(1009, `frames are limited to ${MAX_FRAME_BYTES} bytes`);
      return;
    }
    const attachment = socket.deserializeAttachment() as Attachment;
    attachment.lastSeenMs = Date.now();
    if (typeof message !== 'string') {
      socket.serializeAttachment(attachment);
      socket.send(JSON.stringify({ type: 'error', code: 'invalid_frame', detail: 'Frames are JSON text.' }));
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      parsed = undefined;
    }
    const frame = ClientFrameSchema.safeParse(parsed);
    if (!frame.success) {
      socket.serializeAttachment(attachment);
      socket.send(
        JSON.stringify({ type: 'error', code: 'invalid_frame', detail: frame.error.issues.map((issue) => issue.message).join('; ') }),
      );
      return;
    }
    if (frame.data.type === 'ack') {
      attachment.lastAckSeq = Math.max(attachment.lastAckSeq, frame.data.seq);
      socket.serializeAttachment(attachment);
      return;
    }
    socket.serializeAttachment(attachment);
    if (this.endedReason() !== undefined) {
      socket.close(CLOSE_CODES.sessionEnded, 'session ended');
      return;
    }
    this.broadcast('message', attachment.participant, frame.data.payload);
  }

  override async webSocketClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    const attachment = socket.deserializeAttachment() as Attachment | null;
    try {
      socket.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
    if (attachment && this.endedReason() === undefined) this.broadcast('presence', attachment.participant, { event: 'left' });
  }

  override async webSocketError(socket: WebSocket): Promise<void> {
    await this.webSocketClose(socket, 1011, 'error');
  }

  /** Ends an expired session, closes stale sockets, and comes back while anyone is connected. */
  override async alarm(): Promise<void> {
    if (this.endedReason() === 'expired' && this.meta('ended') === undefined) this.end('expired');
    const now = Date.now();
    for (const socket of this.ctx.getWebSockets()) {
      const attachment = socket.deserializeAttachment() as Attachment;
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(socket)?.getTime() ?? 0;
      if (now - Math.max(attachment.lastSeenMs, pinged) > STALE_AFTER_MS) socket.close(CLOSE_CODES.stale, 'no ping for 60 s');
    }
    await this.scheduleAlarm();
  }

  private async scheduleAlarm(): Promise<void> {
    const expiresAt = Date.parse(this.meta('expires_at') ?? '');
    const ended = this.meta('ended') !== undefined;
    const candidates = [];
    if (!ended && Number.isFinite(expiresAt)) candidates.push(Math.max(expiresAt, Date.now()));
    if (this.ctx.getWebSockets().length > 0) candidates.push(Date.now() + SWEEP_EVERY_MS);
    if (candidates.length === 0) return;
    await this.ctx.storage.setAlarm(Math.min(...candidates));
  }
}

function refuse(reason: JoinRefusal): Response {
  return new Response(null, { status: 409, headers: { [JOIN_REFUSAL_HEADER]: reason } });
}
