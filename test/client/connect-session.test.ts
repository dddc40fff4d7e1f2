/**
 * connectSession (generated/client.ts) against the real Worker, over real sockets in the Workers
 * runtime: sockets are opened as a Worker opens them (fetch + accept, fetchUpgradeTransport), history
 * is read through the generated API client, and sockets are cut from the server's side (the room
 * closes them) or on the way (a tap drops frames, as a half-open connection would). Every frame the
 * client receives is also checked against the spec's ServerFrame.
 */
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type ClientFrame,
  type ConnectSessionOptions,
  connectSession,
  fetchUpgradeTransport,
  type SeqRange,
  type ServerFrame,
  SessionClosedError,
  type SessionConnection,
  type SessionMessage,
  type SessionState,
  type SessionTransport,
  type TransportCloseEvent,
} from '../../generated/client.ts';
import type { SessionRoom } from '../../src/durable-objects/session-room.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/lib/session-token.ts';
import { CLOSE_CODES, REPLAY_LIMIT, ServerFrameSchema } from '../../src/schemas/realtime.ts';
import { mintToken, openSession, testRoomSettings, waitFor } from '../helpers/realtime.ts';
import { createTenant, type Tenant, type TestKey } from '../helpers/tenants.ts';
import { apiClient, BASE_URL } from '../helpers/worker.ts';

/** Backoff short enough for tests: a reconnect within a few milliseconds. */
const FAST: Pick<ConnectSessionOptions, 'backoff' | 'timing'> = {
  backoff: { baseMs: 5, maxMs: 40 },
  timing: { closeTimeoutMs: 1_000 },
};

function roomStub(sessionId: string) {
  // The binding is typed by its shape only (env.ts); its class is fixed by wrangler.toml.
  const namespace = env.SESSION_ROOM as unknown as DurableObjectNamespace<SessionRoom>;
  return namespace.get(namespace.idFromName(sessionId));
}

/** One socket as the tap saw it. */
interface TappedSocket {
  /** Where it connected (its `last_seq` and `epoch`). */
  url: URL;
  /** What the client sent on it, and when. */
  sent: Array<{ at: number; frame: ClientFrame }>;
  /** What reached the client on it (not what the tap dropped), and when. */
  received: Array<{ at: number; frame: ServerFrame }>;
  /** How the transport reported its end (a refused upgrade with its status). */
  ended: TransportCloseEvent | undefined;
  /** What the client closed it with, if it did. */
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;
}

/** Frames the tap keeps from the client: `true` drops the frame, on the socket with that index (0 first). */
type DropRule = (frame: ServerFrame, socketIndex: number) => boolean;

/**
 * The Worker's sockets, through fetchUpgradeTransport, recorded; frames the spec does not declare
 * fail the test.
 */
function tappedTransport(drop: DropRule = () => false): { transport: SessionTransport; sockets: TappedSocket[] } {
  const sockets: TappedSocket[] = [];
  const undeclared: string[] = [];
  onTestFinished(() => {
    if (undeclared.length > 0) throw new Error(`frames the spec does not declare:\n${undeclared.join('\n')}`);
  });
  const inner = fetchUpgradeTransport((url, init) => exports.default.fetch(url, init));
  const transport: SessionTransport = (url, protocols, handlers) => {
    const index = sockets.length;
    const tapped: TappedSocket = { url, sent: [], received: [], ended: undefined, closedByClient: undefined };
    sockets.push(tapped);
    const socket = inner(url, protocols, {
      open: () => handlers.open(),
      message(data) {
        const decoded = ServerFrameSchema.safeParse(JSON.parse(data));
        if (!decoded.success) undeclared.push(data.slice(0, 200));
        const frame = JSON.parse(data) as ServerFrame;
        if (drop(frame, index)) return;
        tapped.received.push({ at: Date.now(), frame });
        handlers.message(data);
      },
      close(event) {
        tapped.ended = event;
        handlers.close(event);
      },
    });
    return {
      send(data) {
        tapped.sent.push({ at: Date.now(), frame: JSON.parse(data) as ClientFrame });
        socket.send(data);
      },
      close(code, reason) {
        tapped.closedByClient = { code, reason };
        socket.close(code, reason);
      },
    };
  };
  return { transport, sockets };
}

interface Participant {
  session: SessionConnection;
  /** What onMessage received, in order. */
  delivered: SessionMessage[];
  gaps: Array<{ range: SeqRange; filled: boolean }>;
  states: SessionState[];
  resets: Array<Parameters<NonNullable<ConnectSessionOptions['onReset']>>[0]>;
  /** How often getToken was called: once per connect attempt. */
  tokenRequests: () => number;
  sockets: TappedSocket[];
  /** Holds getToken, so every connect attempt, until release(): the participant stays offline. */
  hold(): void;
  release(): void;
}

interface JoinOptions extends Partial<ConnectSessionOptions> {
  drop?: DropRule;
  /** The token for the nth connect attempt (1 first); by default minted through the API. */
  tokenFor?: (attempt: number) => Promise<string>;
  /** Awaited by onMessage before it records a message: a slow consumer. */
  beforeDelivery?: () => Promise<void>;
}

/** A participant connected through connectSession, closed when the test ends. */
function join(tenant: Tenant, sessionId: string, participant: string, options: JoinOptions = {}): Participant {
  const { drop, tokenFor = () => mintToken(tenant, sessionId, participant), beforeDelivery, ...overrides } = options;
  const { transport, sockets } = tappedTransport(drop);
  const delivered: SessionMessage[] = [];
  const gaps: Participant['gaps'] = [];
  const states: SessionState[] = [];
  const resets: Participant['resets'] = [];
  const errors: unknown[] = [];
  let requests = 0;
  let gate: Promise<void> | undefined;
  let openGate = () => {};
  const session = connectSession({
    baseUrl: BASE_URL,
    sessionId,
    api: tenant.api,
    transport,
    ...FAST,
    getToken: async () => {
      requests += 1;
      const attempt = requests;
      if (gate !== undefined) await gate;
      return tokenFor(attempt);
    },
    onMessage: async (message) => {
      await beforeDelivery?.();
      delivered.push(message);
    },
    onGap: (range, filled) => gaps.push({ range, filled }),
    onStateChange: (state) => states.push(state),
    onReset: (stream) => resets.push(stream),
    onError: (error) => errors.push(error),
    ...overrides,
  });
  onTestFinished(async () => {
    await session.close();
    // Errors the client reported are a failure unless the test expected them (it empties the list).
    if (errors.length > 0) throw new Error(`${participant} reported: ${errors.map(String).join('; ')}`);
  });
  return {
    session,
    delivered,
    gaps,
    states,
    resets,
    tokenRequests: () => requests,
    sockets,
    hold() {
      gate = new Promise((resolve) => {
        openGate = resolve;
      });
    },
    release() {
      gate = undefined;
      openGate();
    },
  };
}

/** Closes the participant's sockets from the room's side, as a server going away does (1001: reconnect). */
async function cutFromServer(sessionId: string, participant: string): Promise<void> {
  await runInDurableObject(roomStub(sessionId), (_room, state) => {
    for (const socket of state.getWebSockets(participant)) socket.close(CLOSE_CODES.goingAway, 'test: the server dropped the socket');
  });
}

/** `count` messages `{ n }` published by the room itself, as POST /messages does, without the HTTP round trips. */
async function publishThroughRoom(sessionId: string, count: number): Promise<void> {
  await runInDurableObject(roomStub(sessionId), (room: SessionRoom) => {
    for (let n = 1; n <= count; n += 1) room.publish(testRoomSettings(), { n });
  });
}

async function publishThroughApi(tenant: Tenant, sessionId: string, payload: unknown): Promise<number> {
  const { data } = await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload } });
  if (!data) throw new Error('could not publish');
  return data.seq;
}

function seqsOf(messages: SessionMessage[]): number[] {
  return messages.map((message) => message.seq);
}

function consecutive(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

function messagesFrom(participant: Participant, sender: string): SessionMessage[] {
  return participant.delivered.filter((message) => message.type === 'message' && message.sender === sender);
}

function payloadsOf(messages: SessionMessage[]): string[] {
  return messages.map((message) => JSON.stringify(message.payload));
}

/** The ids of the messages sent on a socket, in order. */
function idsSent(socket: TappedSocket | undefined): string[] {
  return (socket?.sent ?? []).flatMap(({ frame }) => (frame.type === 'message' && frame.id !== undefined ? [frame.id] : []));
}

function isOpen(participant: Participant): boolean {
  return participant.session.state === 'open';
}

/** Waits long enough for a reconnect to have asked for a token (the backoff is at most 40 ms), for checks that nothing happened. */
function pastAnyReconnect(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 200));
}

function keyedTenant(tenant: Tenant, key: TestKey): Tenant {
  return { ...tenant, key, api: apiClient({ apiKey: key.secret }) };
}

describe('connectSession: reconnecting, resuming, exactly once', () => {
  it('a subscriber cut off while 2,000 messages are published fills the gap from history and delivers each once, in order', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const historyReads: string[] = [];
    const api = apiClient({ apiKey: tenant.key.secret });
    api.use({
      onRequest({ request }) {
        const url = new URL(request.url);
        if (request.method === 'GET' && url.pathname.endsWith('/messages')) historyReads.push(url.search);
      },
    });
    const subscriber = join(tenant, sessionId, 'client:subscriber', { api, historyPageSize: 300 });
    // Its own join is seq 1.
    await waitFor(() => subscriber.delivered.length === 1);
    expect(subscriber.delivered[0]).toMatchObject({ seq: 1, type: 'presence', sender: 'client:subscriber' });

    subscriber.hold();
    await cutFromServer(sessionId, 'client:subscriber');
    await waitFor(() => subscriber.session.state === 'reconnecting');
    await publishThroughRoom(sessionId, 2000);
    subscriber.release();
    await waitFor(() => subscriber.delivered.length >= 2001, 15_000);
    // A live message after the replay: had anything been delivered twice, it would not be seq 2002's only copy.
    await publishThroughApi(tenant, sessionId, 'live');
    await waitFor(() => subscriber.delivered.some((message) => message.payload === 'live'));

    expect(seqsOf(subscriber.delivered)).toEqual(consecutive(1, 2002));
    expect(subscriber.delivered.slice(1, 2001).map((message) => (message.payload as { n: number }).n)).toEqual(consecutive(1, 2000));
    // The room replayed the newest 1,000 and announced the rest as a gap, which came from history, in pages.
    const second = subscriber.sockets[1];
    expect(second?.received.map(({ frame }) => frame).filter((frame) => frame.type === 'gap')).toEqual([
      { type: 'gap', from_seq: 2, to_seq: 2001 - REPLAY_LIMIT },
    ]);
    expect(subscriber.gaps).toEqual([{ range: { from: 2, to: 2001 - REPLAY_LIMIT }, filled: true }]);
    expect(historyReads).toEqual([
      '?after_seq=1&limit=300',
      '?after_seq=301&limit=300',
      '?after_seq=601&limit=300',
      '?after_seq=901&limit=100',
    ]);
    expect(subscriber.session.lastSeq).toBe(2002);
  }, 30_000);

  it('a slow consumer cut off with messages still unprocessed resumes from the last one processed and drops the repeats', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    let slow = false;
    let resume = () => {};
    const processing = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const subscriber = join(tenant, sessionId, 'client:subscriber', { beforeDelivery: () => (slow ? processing : Promise.resolve()) });
    await waitFor(() => subscriber.delivered.length === 1);
    slow = true;
    await publishThroughRoom(sessionId, 20);
    // All 20 arrived on the first socket, and onMessage is still busy with the first of them.
    await waitFor(() => subscriber.sockets[0]?.received.filter(({ frame }) => frame.type === 'message').length === 20);
    await cutFromServer(sessionId, 'client:subscriber');
    await waitFor(() => subscriber.sockets.length === 2 && isOpen(subscriber));
    await waitFor(() => subscriber.sockets[1]?.received.some(({ frame }) => frame.type === 'resumed') === true);
    resume();
    await waitFor(() => subscriber.session.lastSeq === 21);

    // It resumed from what was processed (seq 1), so the room replayed what the client already held.
    expect(subscriber.sockets[1]?.url.searchParams.get('last_seq')).toBe('1');
    expect(subscriber.sockets[1]?.received.filter(({ frame }) => frame.type === 'message')).toHaveLength(20);
    expect(seqsOf(subscriber.delivered)).toEqual(consecutive(1, 21));
  });

  it('a publisher that resends its ids after a forced reconnect publishes each message once', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber');
    await waitFor(() => isOpen(subscriber));
    // The first socket never hears `published`: as if every answer were lost with the connection.
    const publisher = join(tenant, sessionId, 'client:publisher', { drop: (frame, socket) => socket === 0 && frame.type === 'published' });
    const count = 20;
    const sends = Array.from({ length: count }, (_, n) => publisher.session.send({ n }));
    await waitFor(() => messagesFrom(subscriber, 'client:publisher').length === count);
    await cutFromServer(sessionId, 'client:publisher');
    const published = await Promise.all(sends);

    // The second socket sent the same ids again, and the room answered each as a repeat with the first seq.
    expect(publisher.sockets).toHaveLength(2);
    expect(new Set(idsSent(publisher.sockets[0])).size).toBe(count);
    expect(idsSent(publisher.sockets[1])).toEqual(idsSent(publisher.sockets[0]));
    expect(published.map((outcome) => outcome.duplicate)).toEqual(Array(count).fill(true));
    expect(published.map((outcome) => outcome.seq)).toEqual(seqsOf(messagesFrom(subscriber, 'client:publisher')));
    // A marker after the resends: a repeat broadcast would have arrived before it.
    expect((await publisher.session.send('marker')).duplicate).toBe(false);
    await waitFor(() => subscriber.delivered.some((message) => message.payload === 'marker'));
    const expected = [...Array.from({ length: count }, (_, n) => JSON.stringify({ n })), '"marker"'];
    expect(payloadsOf(messagesFrom(subscriber, 'client:publisher'))).toEqual(expected);
  }, 20_000);

  it('survives a room eviction in the middle of a stream of publishes: nothing lost, nothing twice', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber');
    const publisher = join(tenant, sessionId, 'client:publisher');
    await waitFor(() => isOpen(subscriber) && isOpen(publisher));
    const before = await Promise.all(Array.from({ length: 30 }, (_, n) => publisher.session.send({ n })));
    const inFlight = Array.from({ length: 30 }, (_, n) => publisher.session.send({ n: 30 + n }));
    await evictDurableObject(roomStub(sessionId));
    await publishThroughApi(tenant, sessionId, 'after eviction');
    const afterwards = [...(await Promise.all(inFlight)), await publisher.session.send({ n: 60 })];
    await waitFor(() => payloadsOf(subscriber.delivered).includes('{"n":60}'));

    const outcomes = [...before, ...afterwards];
    expect(outcomes.every((outcome) => !outcome.duplicate)).toBe(true);
    expect(new Set(outcomes.map((outcome) => outcome.seq)).size).toBe(61);
    const seqs = seqsOf(subscriber.delivered);
    expect(seqs).toEqual(consecutive(seqs[0] ?? 0, seqs.at(-1) ?? 0));
    const expected = [...Array.from({ length: 61 }, (_, n) => JSON.stringify({ n })), '"after eviction"'];
    expect(payloadsOf(subscriber.delivered.filter((message) => message.type === 'message')).sort()).toEqual(expected.sort());
  }, 20_000);

  it('an expired token on a reconnect: the client asks for a fresh one and resumes with no loss and no repeat', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ sid: sessionId, org: tenant.orgId, kid: tenant.key.id })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject('client:subscriber')
      .setJti('tok_expired')
      .setIssuedAt(now - 600)
      .setNotBefore(now - 600)
      .setExpirationTime(now - 60)
      .sign(new TextEncoder().encode(env.SESSION_JWT_SECRET ?? ''));
    const subscriber = join(tenant, sessionId, 'client:subscriber', {
      tokenFor: (attempt) => (attempt === 2 ? Promise.resolve(expired) : mintToken(tenant, sessionId, 'client:subscriber')),
    });
    await waitFor(() => isOpen(subscriber));
    await publishThroughApi(tenant, sessionId, 'before');

    subscriber.hold();
    await cutFromServer(sessionId, 'client:subscriber');
    await waitFor(() => subscriber.session.state === 'reconnecting');
    for (const payload of ['offline 1', 'offline 2', 'offline 3']) await publishThroughApi(tenant, sessionId, payload);
    subscriber.release();
    const last = await publishThroughApi(tenant, sessionId, 'after');
    await waitFor(() => subscriber.session.lastSeq === last);

    expect(subscriber.tokenRequests()).toBe(3);
    expect(subscriber.sockets.map((socket) => socket.ended?.status)).toEqual([undefined, 401, undefined]);
    expect(subscriber.sockets[1]?.ended?.problem).toBe('invalid_token');
    expect(seqsOf(subscriber.delivered)).toEqual(consecutive(1, last));
    expect(payloadsOf(subscriber.delivered.filter((message) => message.type === 'message'))).toEqual(
      ['before', 'offline 1', 'offline 2', 'offline 3', 'after'].map((payload) => JSON.stringify(payload)),
    );
  }, 20_000);

  it('4004 (the minting key revoked): a token from another key gets back in, resuming where it was', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    let minter = keyedTenant(tenant, await tenant.addKey());
    const revokedKeyId = minter.key.id;
    const subscriber = join(tenant, sessionId, 'client:subscriber', { tokenFor: () => mintToken(minter, sessionId, 'client:subscriber') });
    await waitFor(() => isOpen(subscriber));
    minter = keyedTenant(tenant, await tenant.addKey());
    const revoked = await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: revokedKeyId } } });
    expect(revoked.response.status).toBe(204);
    await publishThroughApi(tenant, sessionId, 'after revocation');
    await waitFor(() => payloadsOf(subscriber.delivered).includes('"after revocation"'));

    expect(subscriber.sockets[0]?.ended?.code).toBe(CLOSE_CODES.tokenRevoked);
    expect(subscriber.sockets).toHaveLength(2);
    expect(subscriber.tokenRequests()).toBe(2);
    expect(subscriber.session.state).toBe('open');
    // The closed socket's `left`, the message, and the `joined` of the new one (in whichever order the room saw them).
    const seqs = seqsOf(subscriber.delivered);
    expect(seqs).toEqual(consecutive(1, seqs.at(-1) ?? 0));
    expect(payloadsOf(subscriber.delivered.filter((message) => message.type === 'message'))).toEqual(['"after revocation"']);
  });

  it('4004 and only tokens of the revoked key: gives up after the bounded number of refused attempts', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const revokedKey = keyedTenant(tenant, await tenant.addKey());
    const token = await mintToken(revokedKey, sessionId, 'client:subscriber');
    const subscriber = join(tenant, sessionId, 'client:subscriber', {
      tokenFor: async () => token,
      backoff: { ...FAST.backoff, attemptsAfterRevocation: 3 },
    });
    await waitFor(() => isOpen(subscriber));
    await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: revokedKey.key.id } } });

    expect(await subscriber.session.closed).toMatchObject({ code: CLOSE_CODES.tokenRevoked });
    expect(subscriber.session.state).toBe('closed');
    expect(subscriber.sockets.map((socket) => socket.ended?.code ?? socket.ended?.status)).toEqual([4004, 1006, 1006, 1006]);
    expect(subscriber.sockets.slice(1).map((socket) => socket.ended?.status)).toEqual([401, 401, 401]);
    await pastAnyReconnect();
    expect(subscriber.tokenRequests()).toBe(4);
  });

  it('stops on a final close code: the session ended (4000), no more connect attempts', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber');
    await waitFor(() => isOpen(subscriber));
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });

    expect(await subscriber.session.closed).toMatchObject({ code: CLOSE_CODES.sessionEnded });
    expect(subscriber.states).toEqual(['open', 'closed']);
    await expect(subscriber.session.send('too late')).rejects.toBeInstanceOf(SessionClosedError);
    await pastAnyReconnect();
    expect(subscriber.tokenRequests()).toBe(1);
    expect(subscriber.sockets).toHaveLength(1);
  });

  it('a connect refused because the session ended (409 session_ended) is final too', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId, 'client:late');
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
    const late = join(tenant, sessionId, 'client:late', { tokenFor: async () => token });

    expect(await late.session.closed).toMatchObject({ code: CLOSE_CODES.sessionEnded });
    expect(late.sockets.map((socket) => socket.ended)).toMatchObject([{ status: 409, problem: 'session_ended' }]);
    await pastAnyReconnect();
    expect(late.tokenRequests()).toBe(1);
  });

  it('close(3001) ends with the client’s own code and does not reconnect', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const watcher = join(tenant, sessionId, 'client:watcher');
    await waitFor(() => isOpen(watcher));
    const leaver = join(tenant, sessionId, 'client:leaver');
    await waitFor(() => isOpen(leaver));

    expect(await leaver.session.close(3001, 'done here')).toEqual({ code: 3001, reason: 'done here' });
    expect(leaver.sockets[0]?.closedByClient).toEqual({ code: 3001, reason: 'done here' });
    // The close event of the client's own socket: the room answered with the client's code.
    expect(leaver.sockets[0]?.ended).toEqual({ code: 3001, reason: 'done here' });
    expect(leaver.states).toEqual(['open', 'closed']);
    // A deliberate close: the room announces the participant left at once, with no grace period.
    await waitFor(() =>
      watcher.delivered.some(
        (message) => message.type === 'presence' && message.sender === 'client:leaver' && message.payload.event === 'left',
      ),
    );
    await pastAnyReconnect();
    expect(leaver.tokenRequests()).toBe(1);
    expect(leaver.sockets).toHaveLength(1);
  });

  it('300 messages sent at once are paced to the session’s frame rate: all published once, none refused', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber');
    const publisher = join(tenant, sessionId, 'client:publisher');
    await waitFor(() => isOpen(subscriber) && isOpen(publisher));
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, n) => publisher.session.send({ n })));
    await waitFor(() => messagesFrom(subscriber, 'client:publisher').length >= 300);

    expect(outcomes.every((outcome) => !outcome.duplicate)).toBe(true);
    expect(new Set(outcomes.map((outcome) => outcome.seq)).size).toBe(300);
    expect(publisher.sockets).toHaveLength(1);
    // Unpaced, 200 of them would be refused (and the socket closed with 4029 past 200).
    const refused = publisher.sockets[0]?.received.filter(({ frame }) => frame.type === 'error') ?? [];
    expect(refused.length).toBeLessThan(5);
    expect(payloadsOf(messagesFrom(subscriber, 'client:publisher'))).toEqual(Array.from({ length: 300 }, (_, n) => JSON.stringify({ n })));
  }, 20_000);

  it('rate_limited: messages the room refused are sent again no sooner than retry_after_ms, and all 300 are published once', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber');
    // A burst above the room's 100: the room refuses what is over it.
    const publisher = join(tenant, sessionId, 'client:publisher', { frameRate: { perSecond: 50, burst: 150 } });
    await waitFor(() => isOpen(subscriber) && isOpen(publisher));
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, n) => publisher.session.send({ n })));
    await waitFor(() => messagesFrom(subscriber, 'client:publisher').length >= 300);

    const socket = publisher.sockets[0];
    const refusals = (socket?.received ?? []).flatMap(({ at, frame }) =>
      frame.type === 'error' && frame.code === 'rate_limited' && frame.id !== undefined
        ? [{ at, id: frame.id, retryAfterMs: frame.retry_after_ms ?? 0 }]
        : [],
    );
    expect(refusals.length).toBeGreaterThan(0);
    for (const id of new Set(refusals.map((refusal) => refusal.id))) {
      const ofId = refusals.filter((refusal) => refusal.id === id);
      const transmissions = (socket?.sent ?? []).filter(({ frame }) => frame.type === 'message' && frame.id === id).map(({ at }) => at);
      // Each refusal was followed by exactly one resend, retry_after_ms after it at the earliest.
      expect(transmissions).toHaveLength(ofId.length + 1);
      for (const [index, refusal] of ofId.entries()) {
        expect(transmissions[index + 1]).toBeGreaterThanOrEqual(refusal.at + refusal.retryAfterMs);
      }
    }
    expect(outcomes.every((outcome) => !outcome.duplicate)).toBe(true);
    expect(publisher.sockets).toHaveLength(1);
    const payloads = payloadsOf(messagesFrom(subscriber, 'client:publisher'));
    expect(payloads).toHaveLength(300);
    expect(new Set(payloads)).toEqual(new Set(Array.from({ length: 300 }, (_, n) => JSON.stringify({ n }))));
  }, 20_000);

  it('messages sent while disconnected wait, and are published once after the reconnect', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber');
    const publisher = join(tenant, sessionId, 'client:publisher');
    await waitFor(() => isOpen(subscriber) && isOpen(publisher));
    publisher.hold();
    await cutFromServer(sessionId, 'client:publisher');
    await waitFor(() => publisher.session.state === 'reconnecting');
    const sends = Array.from({ length: 10 }, (_, n) => publisher.session.send({ offline: n }));
    publisher.release();
    const outcomes = await Promise.all(sends);
    expect((await publisher.session.send('marker')).duplicate).toBe(false);
    await waitFor(() => subscriber.delivered.some((message) => message.payload === 'marker'));

    expect(outcomes.every((outcome) => !outcome.duplicate)).toBe(true);
    // Sent on the new socket only, each once.
    expect(idsSent(publisher.sockets[0])).toEqual([]);
    expect(new Set(idsSent(publisher.sockets[1])).size).toBe(11);
    expect(idsSent(publisher.sockets[1])).toHaveLength(11);
    expect(payloadsOf(messagesFrom(subscriber, 'client:publisher'))).toEqual([
      ...Array.from({ length: 10 }, (_, n) => JSON.stringify({ offline: n })),
      '"marker"',
    ]);
  });

  it('a socket that goes silent (no pong, no frame) is replaced, and what it swallowed is replayed', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    let deaf = false;
    const subscriber = join(tenant, sessionId, 'client:subscriber', {
      // A half-open connection: the first socket stays up but nothing more reaches the client.
      drop: (_frame, socket) => socket === 0 && deaf,
      timing: { ...FAST.timing, pingEveryMs: 25, silentLimitMs: 100 },
    });
    await waitFor(() => isOpen(subscriber));
    deaf = true;
    for (const payload of ['swallowed 1', 'swallowed 2']) await publishThroughApi(tenant, sessionId, payload);
    await waitFor(() => subscriber.sockets.length === 2 && isOpen(subscriber));
    const last = await publishThroughApi(tenant, sessionId, 'after');
    await waitFor(() => subscriber.session.lastSeq !== undefined && subscriber.session.lastSeq >= last);

    expect(subscriber.sockets[0]?.sent.some(({ frame }) => frame.type === 'ping')).toBe(true);
    expect(subscriber.sockets[0]?.closedByClient?.code).toBe(3008);
    const seqs = seqsOf(subscriber.delivered);
    expect(seqs).toEqual(consecutive(1, seqs.at(-1) ?? 0));
    expect(payloadsOf(subscriber.delivered.filter((message) => message.type === 'message'))).toEqual(
      ['swallowed 1', 'swallowed 2', 'after'].map((payload) => JSON.stringify(payload)),
    );
  });

  it('acknowledges what it processed periodically, not message by message', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = join(tenant, sessionId, 'client:subscriber', { timing: { ...FAST.timing, ackEveryMs: 100 } });
    await waitFor(() => isOpen(subscriber));
    await publishThroughRoom(sessionId, 50);
    await waitFor(() => subscriber.session.lastSeq === 51);
    let acknowledged: number | undefined;
    const deadline = Date.now() + 3_000;
    while (acknowledged !== 51 && Date.now() < deadline) {
      const listed = await tenant.api.GET('/v1/sessions/{id}/participants', { params: { path: { id: sessionId } } });
      acknowledged = listed.data?.data.find((entry) => entry.participant === 'client:subscriber')?.last_ack_seq;
      if (acknowledged !== 51) await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(acknowledged).toBe(51);
    const acks = (subscriber.sockets[0]?.sent ?? []).flatMap(({ frame }) => (frame.type === 'ack' ? [frame.seq] : []));
    expect(acks.length).toBeLessThanOrEqual(2);
    expect(acks.at(-1)).toBe(51);
  });

  it('a message the room refuses (invalid_frame), or one over max_frame_bytes, rejects its own send; the others are published', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant, { max_frame_bytes: 1024 });
    const publisher = join(tenant, sessionId, 'client:publisher');
    await waitFor(() => isOpen(publisher));
    // Deeper than the 10 levels the room's JSON rules allow.
    let deep: unknown = 'bottom';
    for (let level = 0; level < 12; level += 1) deep = { level: deep };
    const sends = [
      publisher.session.send('first'),
      publisher.session.send(deep),
      publisher.session.send('x'.repeat(2000)),
      publisher.session.send('last'),
    ];
    const [first, refused, tooBig, last] = await Promise.allSettled(sends);

    expect(first).toMatchObject({ status: 'fulfilled', value: { duplicate: false } });
    expect(refused).toMatchObject({ status: 'rejected', reason: { name: 'SessionSendError', code: 'invalid_frame' } });
    expect(tooBig).toMatchObject({ status: 'rejected', reason: { name: 'SessionSendError', code: 'frame_too_big' } });
    expect(last).toMatchObject({ status: 'fulfilled', value: { duplicate: false } });
    // The oversized one never went out (the room would have closed the socket with 1009).
    expect(publisher.sockets).toHaveLength(1);
    expect(idsSent(publisher.sockets[0])).toHaveLength(3);
  });

  it('a stream that restarted (another epoch): nothing is resumed, the app is told, counting starts again', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const staleEpoch = `ep_${'x'.repeat(22)}`;
    const subscriber = join(tenant, sessionId, 'client:subscriber', { epoch: staleEpoch, lastSeq: 5 });
    await waitFor(() => subscriber.delivered.length === 1);

    expect(subscriber.resets).toEqual([{ epoch: subscriber.session.epoch, seq: 0, previousEpoch: staleEpoch, previousSeq: 5 }]);
    expect(subscriber.session.epoch).toMatch(/^ep_[0-9A-Za-z]{22}$/);
    expect(subscriber.session.epoch).not.toBe(staleEpoch);
    expect(subscriber.delivered).toMatchObject([{ seq: 1, type: 'presence', sender: 'client:subscriber' }]);
    expect(subscriber.gaps).toEqual([]);
  });
});
