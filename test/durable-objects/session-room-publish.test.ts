/**
 * Effectively-once publish and resume (issue 13 §1, §2): a message `id` is remembered by the room
 * (in its SQLite, so an eviction does not forget it) and a repeat is answered, not broadcast; a
 * reconnect says what it replayed (`resumed`) and a stream of another epoch resumes nothing.
 */
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { SessionRoom } from '../../src/durable-objects/session-room.ts';
import { PUBLISH_ID_WINDOW, type WelcomeFrame } from '../../src/schemas/realtime.ts';
import { connect, framesOf, messagesOnly, mintToken, openSession, type TestSocket, testRoomSettings } from '../helpers/realtime.ts';
import { createTenant } from '../helpers/tenants.ts';

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

function publishedOf(socket: TestSocket) {
  return framesOf(socket.received, 'published');
}

describe('effectively-once publish', () => {
  it('a publisher that resends the same ids after a forced reconnect (and an eviction) produces each message once', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = await connect(sessionId, await mintToken(tenant, sessionId, 'client:subscriber'));
    const token = await mintToken(tenant, sessionId, 'client:publisher');
    const first = await connect(sessionId, token);
    const ids = ['m-1', 'm-2', 'm-3'];
    for (const id of ids) first.send({ type: 'message', id, payload: { id } });
    await first.until(() => publishedOf(first).length === 3);
    const firstSeqs = publishedOf(first).map((frame) => [frame.id, frame.seq, frame.duplicate]);
    expect(firstSeqs.map(([, , duplicate]) => duplicate)).toEqual([false, false, false]);

    // The connection drops and the room is evicted: what it remembers comes from its storage.
    first.socket.close(1001, 'network changed');
    await first.closed;
    await evictDurableObject(roomStub(sessionId));
    const again = await connect(sessionId, token);
    for (const id of [...ids, 'm-4']) again.send({ type: 'message', id, payload: { id } });
    await again.until(() => publishedOf(again).length === 4);
    expect(publishedOf(again).map((frame) => [frame.id, frame.seq, frame.duplicate])).toEqual([
      ...firstSeqs.map(([id, seq]) => [id, seq, true]),
      ['m-4', expect.any(Number), false],
    ]);

    await subscriber.until((received) => messagesOnly(received).length === 4);
    const seen = messagesOnly(subscriber.received);
    expect(seen.map((message) => message.id)).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    expect(seen.map((message) => message.sender)).toEqual(Array(4).fill('client:publisher'));
  });

  it('ids are per sender: another participant may use the same id for its own message', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const one = await connect(sessionId, await mintToken(tenant, sessionId, 'client:one'));
    const two = await connect(sessionId, await mintToken(tenant, sessionId, 'client:two'));
    one.send({ type: 'message', id: 'same', payload: 1 });
    await one.until(() => publishedOf(one).length === 1);
    two.send({ type: 'message', id: 'same', payload: 2 });
    await two.until(() => publishedOf(two).length === 1);
    expect(publishedOf(two)[0]?.duplicate).toBe(false);
    await one.until((received) => messagesOnly(received).length === 2);
  });

  it('a refused message frame is answered with an error naming its id, and nothing is broadcast', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    socket.send({ type: 'message', id: 'no-payload' });
    socket.send({ type: 'message', id: 'has-extra', payload: 1, extra: true });
    await socket.until((received) => framesOf(received, 'error').length === 2);
    expect(framesOf(socket.received, 'error').map((frame) => [frame.code, frame.id])).toEqual([
      ['invalid_frame', 'no-payload'],
      ['invalid_frame', 'has-extra'],
    ]);
    expect(messagesOnly(socket.received)).toEqual([]);
  });

  it('a message without an id is broadcast each time it is sent, and answered with no published frame', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    socket.send({ type: 'message', payload: 'twice' });
    socket.send({ type: 'message', payload: 'twice' });
    // Spaced so the runtime's auto-response does not match it: the room answers it after the two
    // messages (a byte-exact ping is answered by the runtime at once and could overtake them).
    socket.send('{ "type": "ping" }');
    await socket.until((received) => framesOf(received, 'pong').length === 1);
    expect(messagesOnly(socket.received)).toHaveLength(2);
    expect(publishedOf(socket)).toEqual([]);
  });

  it(`an id is forgotten after ${PUBLISH_ID_WINDOW.ms / 60_000} minutes: a repeat after that is a new message`, async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    socket.send({ type: 'message', id: 'old', payload: 'first' });
    await socket.until(() => publishedOf(socket).length === 1);
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      state.storage.sql.exec('UPDATE published_ids SET at_ms = at_ms - ?', PUBLISH_ID_WINDOW.ms + 1);
    });
    socket.send({ type: 'message', id: 'old', payload: 'second' });
    await socket.until(() => publishedOf(socket).length === 2);
    expect(publishedOf(socket).map((frame) => frame.duplicate)).toEqual([false, false]);
    expect(messagesOnly(socket.received).map((message) => message.payload)).toEqual(['first', 'second']);
  });

  it(`keeps at most the newest ${PUBLISH_ID_WINDOW.perSender.toLocaleString('en')} ids of a sender, pruning older ones`, async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const remembered = await runInDurableObject(roomStub(sessionId), (room: SessionRoom, state) => {
      // The HTTP path (sender `server`) with an id each: the same window, without 10,000 sockets frames.
      for (let n = 1; n <= PUBLISH_ID_WINDOW.perSender + 200; n += 1) room.publish(testRoomSettings(), n, `key-${n}`);
      return state.storage.sql
        .exec<{ n: number; oldest: number }>("SELECT count(*) AS n, min(seq) AS oldest FROM published_ids WHERE sender = 'server'")
        .one();
    });
    expect(remembered.n).toBeGreaterThanOrEqual(PUBLISH_ID_WINDOW.perSender);
    expect(remembered.n).toBeLessThan(PUBLISH_ID_WINDOW.perSender + 64);
    // The newest are the ones kept.
    expect(remembered.oldest).toBe(PUBLISH_ID_WINDOW.perSender + 200 - remembered.n + 1);
  });

  it('POST /messages with an Idempotency-Key carries the seq, and the key is not broadcast as the message id', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const subscriber = await connect(sessionId, await mintToken(tenant, sessionId, 'client:subscriber'));
    const { data, response } = await tenant.api.POST('/v1/sessions/{id}/messages', {
      params: { path: { id: sessionId } },
      body: { payload: { text: 'once' } },
      headers: { 'Idempotency-Key': 'publish-secret-key-1' },
    });
    expect(response.status).toBe(202);
    await subscriber.until((received) => messagesOnly(received).length === 1);
    const [message] = messagesOnly(subscriber.received);
    expect(message).toEqual(data);
    expect(message?.id).toBeUndefined();
    expect(JSON.stringify(subscriber.received)).not.toContain('publish-secret-key-1');
  });
});

describe('resume', () => {
  it('a reconnect in the same epoch says what it replayed, even when nothing was missed', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId, 'client:roamer');
    const first = await connect(sessionId, token);
    await first.until((received) => framesOf(received, 'presence').length === 1);
    const { epoch } = first.received[0] as WelcomeFrame;
    const lastSeq = framesOf(first.received, 'presence')[0]?.seq ?? 0;
    const caughtUp = await connect(sessionId, token, { lastSeq, epoch });
    await caughtUp.until((received) => framesOf(received, 'resumed').length === 1);
    expect(caughtUp.received.slice(0, 2)).toEqual([
      expect.objectContaining({ type: 'welcome', epoch, seq: lastSeq }),
      { type: 'resumed', from_seq: lastSeq + 1, to_seq: lastSeq },
    ]);
  });

  it('a last_seq from another epoch, or past the end of the stream, resumes nothing: the welcome tells the client', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId, 'client:roamer');
    const first = await connect(sessionId, token);
    first.send({ type: 'message', payload: 'one' });
    await first.until((received) => messagesOnly(received).length === 1);
    const { epoch } = first.received[0] as WelcomeFrame;
    const otherEpoch = await connect(sessionId, token, { lastSeq: 0, epoch: 'ep_0000000000000000000000' });
    const beyond = await connect(sessionId, token, { lastSeq: 99, epoch });
    for (const socket of [otherEpoch, beyond]) {
      socket.send({ type: 'ping' });
      await socket.until((received) => framesOf(received, 'pong').length === 1);
      expect(socket.received[0]).toMatchObject({ type: 'welcome', epoch, seq: 2 });
      expect(framesOf(socket.received, 'resumed')).toEqual([]);
      expect(messagesOnly(socket.received)).toEqual([]);
    }
  });
});
