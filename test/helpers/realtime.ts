/**
 * Real WebSockets against the Worker, in the Workers runtime: connect a participant, collect what
 * it receives, wait for frames or the close. Every frame received is decoded with the spec's
 * ServerFrame schema: one the spec does not declare fails the test that received it.
 */
import { exports } from 'cloudflare:workers';
import { onTestFinished } from 'vitest';
import { sessionSocketProtocols, sessionSocketUrl } from '../../generated/client.ts';
import type { RoomSettings } from '../../src/durable-objects/session-room-protocol.ts';
import { type MessageFrame, type ServerFrame, ServerFrameSchema, type SessionMessage } from '../../src/schemas/realtime.ts';
import type { Tenant } from './tenants.ts';
import { BASE_URL } from './worker.ts';

/** Room settings for a join or call made straight to a room: a session with an hour left and the defaults. */
export function testRoomSettings(overrides: Partial<RoomSettings> = {}): RoomSettings {
  return {
    expiresAt: new Date(Date.now() + 60 * 60_000).toISOString(),
    maxParticipants: 10,
    maxFrameBytes: 65_536,
    framesPerSecond: 50,
    presenceGraceSeconds: 15,
    historyMaxMessages: 10_000,
    historyMaxAgeSeconds: 86_400,
    ...overrides,
  };
}

/** A frame the socket received that ServerFrameSchema refused, with why. */
export interface UndeclaredFrame {
  data: string;
  problem: string;
}

export interface TestSocket {
  socket: WebSocket;
  /** Every declared frame received, decoded, in order. */
  received: ServerFrame[];
  /**
   * Frames the spec does not declare. Any of them fails the test: `until()` throws as soon as one
   * arrives, and the test fails when it finishes. A test that provokes one on purpose empties this.
   */
  undeclared: UndeclaredFrame[];
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until `predicate` holds for what was received. */
  until(predicate: (received: ServerFrame[]) => boolean, timeoutMs?: number): Promise<void>;
  send(frame: unknown): void;
}

export async function waitFor(predicate: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Opens a session through the API and returns its id. */
export async function openSession(tenant: Tenant, body: Record<string, unknown> = {}): Promise<string> {
  const { data } = await tenant.api.POST('/v1/sessions', { body });
  if (!data) throw new Error('could not open a session');
  return data.id;
}

export async function mintToken(tenant: Tenant, sessionId: string, participant = 'client:tester'): Promise<string> {
  const { data, response } = await tenant.api.POST('/v1/sessions/{id}/tokens', {
    params: { path: { id: sessionId } },
    body: { participant },
  });
  if (!data) throw new Error(`could not mint a token: ${response.status}`);
  return data.token;
}

/** The upgrade request, as the Workers runtime opens a client WebSocket: `fetch` with `Upgrade: websocket`. */
export function connectRequest(
  sessionId: string,
  options: { token?: string; lastSeq?: number; epoch?: string; headers?: Record<string, string>; viaQuery?: boolean } = {},
) {
  const { token, lastSeq, epoch, viaQuery } = options;
  const url = sessionSocketUrl({
    baseUrl: BASE_URL,
    sessionId,
    scheme: 'http',
    ...(lastSeq !== undefined ? { lastSeq } : {}),
    ...(viaQuery && token !== undefined ? { queryToken: token } : {}),
  });
  if (epoch !== undefined) url.searchParams.set('epoch', epoch);
  const headers: Record<string, string> = { Upgrade: 'websocket', ...options.headers };
  if (!viaQuery && token !== undefined) headers['Sec-WebSocket-Protocol'] = sessionSocketProtocols(token).join(', ');
  return exports.default.fetch(url.href, { headers });
}

export async function connect(
  sessionId: string,
  token: string,
  options: { lastSeq?: number; epoch?: string; headers?: Record<string, string>; viaQuery?: boolean } = {},
): Promise<TestSocket> {
  const response = await connectRequest(sessionId, { token, ...options });
  if (response.status !== 101) throw new Error(`expected 101, got ${response.status}: ${await response.text()}`);
  const socket = response.webSocket;
  if (!socket) throw new Error('no WebSocket on a 101');
  socket.accept();
  const received: ServerFrame[] = [];
  const undeclared: UndeclaredFrame[] = [];
  socket.addEventListener('message', (event) => {
    const data = typeof event.data === 'string' ? event.data : `<${event.data.byteLength} bytes of binary>`;
    const decoded = decodeFrame(data);
    if (decoded.ok) received.push(decoded.frame);
    else undeclared.push({ data, problem: decoded.problem });
  });
  // Thrown here, the error fails the test even when it never waits for the frame that broke the contract.
  onTestFinished(() => {
    if (undeclared.length > 0) throw undeclaredError(undeclared);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.addEventListener('close', (event) => resolve({ code: event.code, reason: event.reason }));
  });
  return {
    socket,
    received,
    undeclared,
    closed,
    until: (predicate, timeoutMs) =>
      waitFor(() => {
        if (undeclared.length > 0) throw undeclaredError(undeclared);
        return predicate(received);
      }, timeoutMs),
    send: (frame) => socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
  };
}

function decodeFrame(data: string): { ok: true; frame: ServerFrame } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (error) {
    return { ok: false, problem: `not JSON: ${(error as Error).message}` };
  }
  const decoded = ServerFrameSchema.safeParse(json);
  if (decoded.success) return { ok: true, frame: decoded.data };
  return { ok: false, problem: decoded.error.issues.map((issue) => `${issue.path.join('.') || '(frame)'}: ${issue.message}`).join('; ') };
}

function undeclaredError(undeclared: UndeclaredFrame[]): Error {
  const list = undeclared.map((frame) => `  ${frame.data.slice(0, 200)} (${frame.problem})`).join('\n');
  return new Error(`the server sent ${undeclared.length} frame(s) the spec's ServerFrame does not declare:\n${list}`);
}

/** The broadcasts (sequenced frames) among what was received. */
export function broadcastsOnly(received: ServerFrame[]): SessionMessage[] {
  return received.filter((frame): frame is SessionMessage => frame.type === 'message' || frame.type === 'presence');
}

export function messagesOnly(received: ServerFrame[]): MessageFrame[] {
  return framesOf(received, 'message');
}

/** Frames of one type among what was received. */
export function framesOf<Type extends ServerFrame['type']>(
  received: ServerFrame[],
  type: Type,
): Array<Extract<ServerFrame, { type: Type }>> {
  return received.filter((frame): frame is Extract<ServerFrame, { type: Type }> => frame.type === type);
}

let readers = 0;

/**
 * Every broadcast the session's room keeps, read as a newcomer does: a fresh participant (its token
 * minted through the API, so audited) connects with `last_seq=0`, receives the replay and then its
 * own join, and leaves. Returns the broadcasts up to and including that join, in the order received.
 */
export async function storedBroadcasts(tenant: Tenant, sessionId: string): Promise<SessionMessage[]> {
  readers += 1;
  const participant = `client:reader-${readers}`;
  const reader = await connect(sessionId, await mintToken(tenant, sessionId, participant), { lastSeq: 0 });
  const isOwnJoin = (frame: SessionMessage) =>
    frame.type === 'presence' && frame.sender === participant && frame.payload.event === 'joined';
  await reader.until((received) => broadcastsOnly(received).some(isOwnJoin));
  reader.socket.close(1000, 'read');
  const frames = broadcastsOnly(reader.received);
  return frames.slice(0, frames.findIndex(isOwnJoin) + 1);
}
