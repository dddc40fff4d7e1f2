/**
 * Limits inside the room (issue 13 §5) and closing (§6): a token bucket per connection, a close
 * for a client that ignores it, the session's frame limit, and a client's close answered with its
 * own code.
 */
import { describe, expect, it } from 'vitest';
import { ABUSE_LIMIT, CLOSE_CODES, FRAME_RATE } from '../../src/schemas/realtime.ts';
import { expectProblem } from '../helpers/problem.ts';
import { connect, framesOf, messagesOnly, mintToken, openSession } from '../helpers/realtime.ts';
import { createTenant } from '../helpers/tenants.ts';

describe('frame rate per connection', () => {
  it('a flood is answered with rate_limited (retry_after_ms, the id) beyond the burst, and other sockets are not affected', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const flooder = await connect(sessionId, await mintToken(tenant, sessionId, 'client:flooder'));
    const calm = await connect(sessionId, await mintToken(tenant, sessionId, 'client:calm'));
    const sent = FRAME_RATE.burst + 50;
    for (let n = 0; n < sent; n += 1) flooder.send({ type: 'message', id: `f-${n}`, payload: n });
    await flooder.until((received) => framesOf(received, 'published').length + framesOf(received, 'error').length === sent);
    const refused = framesOf(flooder.received, 'error');
    const published = framesOf(flooder.received, 'published');
    // The burst goes through, plus what refilled while the frames arrived; the rest is refused.
    expect(published.length).toBeGreaterThanOrEqual(FRAME_RATE.burst);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.code).toBe('rate_limited');
      expect(error.retry_after_ms).toBeGreaterThan(0);
      expect(error.retry_after_ms).toBeLessThanOrEqual(1000 / FRAME_RATE.perSecond);
    }
    // Every frame is answered once: published or refused, never both, never neither.
    const answered = [...published.map((frame) => frame.id), ...refused.map((frame) => frame.id)].sort();
    expect(answered).toEqual(Array.from({ length: sent }, (_, n) => `f-${n}`).sort());

    calm.send({ type: 'message', id: 'calm-1', payload: 'unaffected' });
    await calm.until((received) => framesOf(received, 'published').length === 1);
    expect(framesOf(calm.received, 'error')).toEqual([]);
    // A refused message was not broadcast.
    await calm.until((received) => messagesOnly(received).some((message) => message.payload === 'unaffected'));
    const broadcastIds = new Set(messagesOnly(calm.received).map((message) => message.id));
    for (const error of refused) expect(broadcastIds.has(error.id)).toBe(false);
  });

  it(`a client that keeps sending after rate_limited is closed with ${CLOSE_CODES.rateLimited}`, async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const abuser = await connect(sessionId, await mintToken(tenant, sessionId, 'client:abuser'));
    for (let n = 0; n < FRAME_RATE.burst + ABUSE_LIMIT.refusedFrames + 50; n += 1) abuser.send({ type: 'ack', seq: n });
    expect((await abuser.closed).code).toBe(CLOSE_CODES.rateLimited);
  });

  it("follows the session's frames_per_second, with bursts of twice as many, and says so in the welcome", async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant, { frames_per_second: 5 });
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    for (let n = 0; n < 30; n += 1) socket.send({ type: 'message', id: `s-${n}`, payload: n });
    await socket.until((received) => framesOf(received, 'published').length + framesOf(received, 'error').length === 30);
    expect(socket.received[0]).toMatchObject({ type: 'welcome', limits: { frames_per_second: 5, frame_burst: 10 } });
    const published = framesOf(socket.received, 'published').length;
    expect(published).toBeGreaterThanOrEqual(10);
    expect(published).toBeLessThan(15);
    expect(framesOf(socket.received, 'error')[0]?.retry_after_ms).toBeLessThanOrEqual(200);
  });
});

describe('frame size per session', () => {
  it('closes a frame over the default 64 KiB with 1009', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    socket.send({ type: 'message', payload: 'x'.repeat(64 * 1024) });
    expect((await socket.closed).code).toBe(1009);
  });

  it('takes frames up to max_frame_bytes when the session allows more, and the HTTP publish obeys the same limit', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant, { max_frame_bytes: 256 * 1024 });
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    const big = 'y'.repeat(200 * 1024);
    socket.send({ type: 'message', payload: big });
    await socket.until((received) => messagesOnly(received).some((message) => message.payload === big));
    const over = await tenant.api.POST('/v1/sessions/{id}/messages', {
      params: { path: { id: sessionId } },
      body: { payload: 'z'.repeat(256 * 1024) },
    });
    await expectProblem(over, 413, 'payload_too_large');
    socket.send({ type: 'message', payload: 'z'.repeat(256 * 1024) });
    expect((await socket.closed).code).toBe(1009);
  });
});

describe('closing', () => {
  it("answers a client's close frame with the client's own code", async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const socket = await connect(sessionId, await mintToken(tenant, sessionId));
    socket.socket.close(3001, 'done here');
    expect(await socket.closed).toEqual({ code: 3001, reason: 'done here' });
  });
});
