/**
 * Real WebSockets against the Worker, in the Workers runtime: connect a participant, collect what
 * it receives, wait for frames or the close.
 */
import { exports } from 'cloudflare:workers';
import type { SessionMessage } from '../../src/schemas/realtime.ts';
import type { Tenant } from './tenants.ts';
import { BASE_URL } from './worker.ts';

export interface TestSocket {
  socket: WebSocket;
  received: SessionMessage[];
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until `predicate` holds for what was received. */
  until(predicate: (received: SessionMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  send(frame: unknown): void;
}

export async function waitFor(predicate: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function mintToken(tenant: Tenant, sessionId: string, participant = 'client:tester'): Promise<string> {
  const { data, response } = await tenant.api.POST('/v1/sessions/{id}/tokens', {
    params: { path: { id: sessionId } },
    body: { participant },
  });
  if (!data) throw new Error(`could not mint a token: ${response.status}`);
  return data.token;
}

export function connectRequest(
  sessionId: string,
  options: { token?: string; lastSeq?: number; headers?: Record<string, string>; viaQuery?: boolean } = {},
) {
  const query = new URLSearchParams();
  if (options.viaQuery && options.token) query.set('token', options.token);
  if (options.lastSeq !== undefined) query.set('last_seq', String(options.lastSeq));
  const headers: Record<string, string> = { Upgrade: 'websocket', ...options.headers };
  if (!options.viaQuery && options.token) headers['Sec-WebSocket-Protocol'] = `switchyard.v1, ${options.token}`;
  return exports.default.fetch(`${BASE_URL}/v1/sessions/${sessionId}/connect${query.size ? `?${query}` : ''}`, { headers });
}

export async function connect(
  sessionId: string,
  token: string,
  options: { lastSeq?: number; headers?: Record<string, string>; viaQuery?: boolean } = {},
): Promise<TestSocket> {
  const response = await connectRequest(sessionId, { token, ...options });
  if (response.status !== 101) throw new Error(`expected 101, got ${response.status}: ${await response.text()}`);
  const socket = response.webSocket;
  if (!socket) throw new Error('no WebSocket on a 101');
  socket.accept();
  const received: SessionMessage[] = [];
  socket.addEventListener('message', (event) => {
    received.push(JSON.parse(String(event.data)) as SessionMessage);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.addEventListener('close', (event) => resolve({ code: event.code, reason: event.reason }));
  });
  return {
    socket,
    received,
    closed,
    until: (predicate, timeoutMs) => waitFor(() => predicate(received), timeoutMs),
    send: (frame) => socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
  };
}

export function messagesOnly(received: SessionMessage[]): SessionMessage[] {
  return received.filter((message) => message.type === 'message');
}
