/**
 * A session's room reset while it works. `DurableObjectState.abort()` resets the object in workerd:
 * the instance is thrown away with whatever it had not committed, its sockets are dropped (1006),
 * and the next call builds a new instance from storage. Through the API and real sockets:
 * - no publish that was answered 202 is lost: every subscriber that resumes with `last_seq` (the
 *   last seq it saw) receives it, and it is in the room's ring;
 * - no seq is seen twice or out of order across the reset, and the ring's seqs follow one another
 *   ("every broadcast gets the next one");
 * - a message a subscriber saw before the reset is in the ring after it;
 * - a publish the reset cut off answers a retryable problem (503 / 504 with Retry-After).
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { SessionMessage as Published } from '../../generated/client.ts';
import type { SessionMessage } from '../../src/schemas/realtime.ts';
import { expectProblem } from '../helpers/problem.ts';
import { broadcastsOnly, connect, mintToken, openSession, storedBroadcasts, type TestSocket } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';

const RESET = 'test: the room was reset';
/** Publishes in flight together, each sent this long after the one before, and how many are answered before the room is reset. */
const IN_FLIGHT = 40;
const STAGGER_MS = 4;
const RESET_AFTER_ACKS = 10;
/** Publishes sent one by one after the reset, to the new instance. */
const AFTERWARDS = 5;

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

/** Resets the room now; the call that resets it fails with the reset's reason. */
async function resetRoom(sessionId: string): Promise<void> {
  await expect(runInDurableObject(roomStub(sessionId), (_room, state) => state.abort(RESET))).rejects.toThrow(RESET);
}

/**
 * Resets the room in the middle of its next broadcast: after the message is stored and sequenced,
 * while it is being sent to the sockets, before the storage write has committed.
 */
async function resetDuringNextBroadcast(sessionId: string): Promise<void> {
  await runInDurableObject(roomStub(sessionId), (_room, state) => {
    const sockets = state.getWebSockets.bind(state);
    let armed = true;
    // broadcast() asks for the sockets right after its INSERT.
    Object.assign(state, {
      getWebSockets: (tag?: string) => {
        if (armed) {
          armed = false;
          state.abort(RESET);
        }
        return sockets(tag);
      },
    });
  });
}

/**
 * Resets the room after its next publish has committed (stored, sequenced, sent) but before the
 * publish answers the Worker: the case of a message sent whose acknowledgement is lost.
 */
async function resetAfterNextPublishCommits(sessionId: string): Promise<void> {
  await runInDurableObject(roomStub(sessionId), (room, state) => {
    const prototype = Object.getPrototypeOf(room) as { publish: (...args: unknown[]) => unknown };
    const publish = prototype.publish;
    // On the instance's own prototype, so the RPC still finds `publish` as a method of the class.
    Object.setPrototypeOf(
      room,
      Object.create(prototype, {
        publish: {
          value: async function publishThenReset(this: unknown, ...args: unknown[]) {
            const published = publish.apply(this, args);
            await state.storage.sync();
            state.abort(RESET);
            return published;
          },
        },
      }),
    );
  });
}

interface Subscriber {
  participant: string;
  token: string;
  /** Its connections in order: the one the reset dropped, then the resumed one. */
  sockets: TestSocket[];
}

const isJoinOf = (participant: string) => (frame: SessionMessage) =>
  frame.type === 'presence' && frame.sender === participant && frame.payload.event === 'joined';

async function subscribe(tenant: Tenant, sessionId: string, participant: string): Promise<Subscriber> {
  const token = await mintToken(tenant, sessionId, participant);
  const socket = await connect(sessionId, token);
  await socket.until((received) => broadcastsOnly(received).some(isJoinOf(participant)));
  return { participant, token, sockets: [socket] };
}

/** Every broadcast the subscriber received, over all its connections, in the order received. */
function seen(subscriber: Subscriber): SessionMessage[] {
  return subscriber.sockets.flatMap((socket) => broadcastsOnly(socket.received));
}

/** Reconnects with `last_seq` = the last seq it saw, as a client resuming after a dropped socket. */
async function resume(sessionId: string, subscriber: Subscriber): Promise<void> {
  const lastSeq = seen(subscriber).at(-1)?.seq;
  expect(lastSeq).toBeDefined();
  subscriber.sockets.push(await connect(sessionId, subscriber.token, { lastSeq }));
}

function seqsOf(frames: ReadonlyArray<{ seq: number }>): number[] {
  return frames.map((frame) => frame.seq);
}

/** Strictly increasing: no seq twice, none out of order. */
function expectStrictlyIncreasing(seqs: number[]): void {
  expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
}

/** The seqs of the ring follow one another from 1. */
function expectConsecutiveFromOne(seqs: number[]): void {
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
}

function publish(tenant: Tenant, sessionId: string, payload: unknown) {
  return tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload } });
}

type Publish = Awaited<ReturnType<typeof publish>>;

/** A publish that failed on our side, as a client may retry it: 503 or 504, a problem, Retry-After. */
async function expectRetryable(result: Pick<Publish, 'response' | 'error'>): Promise<void> {
  const { status } = result.response;
  expect([503, 504], `status ${status}`).toContain(status);
  const code = (result.error as { code?: string } | undefined)?.code ?? '';
  expect(['service_unavailable', 'circuit_open', 'timeout']).toContain(code);
  const problem = await expectProblem(result, status, code);
  expect(Number(result.response.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
  expect(problem.detail).toContain('may have been sent');
}

describe('a SessionRoom reset', () => {
  it('among in-flight publishes: every acknowledged message reaches every resuming subscriber and the ring, and no seq repeats', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscribers = [];
    for (const name of ['a', 'b', 'c']) subscribers.push(await subscribe(tenant, sessionId, `client:subscriber-${name}`));

    const acknowledged: Published[] = [];
    const failed: Array<{ n: number; result: Publish }> = [];
    let reset: Promise<void> | undefined;
    const send = async (n: number) => {
      await new Promise((resolve) => setTimeout(resolve, n * STAGGER_MS));
      const result = await publish(tenant, sessionId, { n });
      if (result.data === undefined) {
        failed.push({ n, result });
        return;
      }
      acknowledged.push(result.data);
      // Reset while the rest are still in flight.
      if (acknowledged.length === RESET_AFTER_ACKS) reset = resetRoom(sessionId);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, (_, n) => send(n)));
    expect(reset).toBeDefined();
    await reset;
    // The reset dropped every socket, the way a reset does (no close frame).
    for (const subscriber of subscribers) expect((await subscriber.sockets[0]?.closed)?.code).toBe(1006);
    expect(acknowledged.length + failed.length).toBe(IN_FLIGHT);
    for (const { result } of failed) await expectRetryable(result);
    // The reset came among them: some were delivered before it, some were sequenced after it.
    const seenBeforeReset = subscribers.flatMap((subscriber) => broadcastsOnly(subscriber.sockets[0]?.received ?? []));
    const deliveredBeforeReset = new Set(seqsOf(seenBeforeReset));
    expect(acknowledged.filter((message) => deliveredBeforeReset.has(message.seq)).length).toBeGreaterThan(0);
    expect(acknowledged.filter((message) => !deliveredBeforeReset.has(message.seq)).length).toBeGreaterThan(0);
    // And after it, answered by the new instance.
    for (let n = IN_FLIGHT; n < IN_FLIGHT + AFTERWARDS; n += 1) {
      const later = await publish(tenant, sessionId, { n });
      expect(later.response.status).toBe(202);
      if (later.data) acknowledged.push(later.data);
    }
    // Each acknowledgement names its own seq.
    expect(new Set(seqsOf(acknowledged)).size).toBe(acknowledged.length);

    for (const subscriber of subscribers) await resume(sessionId, subscriber);
    for (const subscriber of subscribers) {
      const resumed = subscriber.sockets[1];
      await resumed?.until(() => acknowledged.every((message) => seen(subscriber).some((frame) => frame.seq === message.seq)));
      expectStrictlyIncreasing(seqsOf(seen(subscriber)));
      for (const message of acknowledged) expect(seen(subscriber)).toContainEqual(message);
    }

    const ring = await storedBroadcasts(tenant, sessionId);
    expectConsecutiveFromOne(seqsOf(ring));
    for (const message of acknowledged) expect(ring).toContainEqual(message);
    for (const frame of seenBeforeReset) expect(ring).toContainEqual(frame);
    // A publish that failed was stored once or not at all; every payload is in the ring at most once.
    const payloads = ring.filter((frame) => frame.type === 'message').map((frame) => JSON.stringify(frame.payload));
    expect(new Set(payloads).size).toBe(payloads.length);
  });

  it('mid-broadcast, before the message committed: its publish answers a retryable problem, no one receives it, and its seq goes to the next message', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = await subscribe(tenant, sessionId, 'client:subscriber');
    const before = await publish(tenant, sessionId, 'before');
    expect(before.response.status).toBe(202);
    const beforeSeq = before.data?.seq ?? 0;
    await subscriber.sockets[0]?.until((received) => broadcastsOnly(received).some((frame) => frame.seq === beforeSeq));

    await resetDuringNextBroadcast(sessionId);
    const cut = await publish(tenant, sessionId, 'cut off');
    await expectRetryable(cut);
    expect((await subscriber.sockets[0]?.closed)?.code).toBe(1006);
    const after = await publish(tenant, sessionId, 'after');
    expect(after.response.status).toBe(202);
    // The cut message was given beforeSeq + 1 in memory only; nobody saw it (workerd's output gate
    // holds frames and answers until the write commits), so the next message gets that seq.
    expect(after.data?.seq).toBe(beforeSeq + 1);

    await resume(sessionId, subscriber);
    await subscriber.sockets[1]?.until(() => seen(subscriber).some((frame) => frame.seq === after.data?.seq));
    expectStrictlyIncreasing(seqsOf(seen(subscriber)));
    expect(seen(subscriber).map((frame) => frame.payload)).not.toContainEqual('cut off');
    expect(seen(subscriber)).toContainEqual(after.data);
    const ring = await storedBroadcasts(tenant, sessionId);
    expectConsecutiveFromOne(seqsOf(ring));
    expect(ring).toContainEqual(before.data);
    expect(ring).toContainEqual(after.data);
    expect(ring.map((frame) => frame.payload)).not.toContainEqual('cut off');
  });

  it('after the message committed, before the publish answered: a retryable problem saying it may have been sent; it was, once, and kept', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = await subscribe(tenant, sessionId, 'client:subscriber');

    await resetAfterNextPublishCommits(sessionId);
    const unanswered = await publish(tenant, sessionId, 'sent, not acknowledged');
    await expectRetryable(unanswered);
    expect((await subscriber.sockets[0]?.closed)?.code).toBe(1006);
    const after = await publish(tenant, sessionId, 'after');
    expect(after.response.status).toBe(202);

    await resume(sessionId, subscriber);
    await subscriber.sockets[1]?.until(() => seen(subscriber).some((frame) => frame.seq === after.data?.seq));
    expectStrictlyIncreasing(seqsOf(seen(subscriber)));
    const sent = seen(subscriber).filter((frame) => frame.payload === 'sent, not acknowledged');
    expect(sent).toHaveLength(1);
    const ring = await storedBroadcasts(tenant, sessionId);
    expectConsecutiveFromOne(seqsOf(ring));
    expect(ring).toContainEqual(sent[0]);
    expect(ring).toContainEqual(after.data);
    expect(after.data?.seq).toBeGreaterThan(sent[0]?.seq ?? Number.POSITIVE_INFINITY);
  });
});
