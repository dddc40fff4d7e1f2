import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { LAST_SEEN_RESOLUTION_MS, type SessionRoom, STALE_AFTER_MS } from '../../src/durable-objects/session-room.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/lib/session-token.ts';
import { REPLAY_LIMIT, type WelcomeFrame } from '../../src/schemas/realtime.ts';
import { expectProblem } from '../helpers/problem.ts';
import {
  broadcastsOnly,
  connect,
  connectRequest,
  framesOf,
  messagesOnly,
  mintToken,
  openSession,
  testRoomSettings,
  waitFor,
} from '../helpers/realtime.ts';
import { createTenant } from '../helpers/tenants.ts';

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

describe('session WebSockets', () => {
  it('every client receives every message, in one order', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const clients = [];
    for (let index = 0; index < 5; index += 1)
      clients.push(await connect(sessionId, await mintToken(tenant, sessionId, `client:c${index}`)));
    for (const [index, client] of clients.entries())
      for (let n = 0; n < 3; n += 1) client.send({ type: 'message', payload: { from: index, n } });
    for (const client of clients) await client.until((received) => messagesOnly(received).length === 15);
    const reference = messagesOnly(clients[0]?.received ?? []).map((message) => message.seq);
    expect(new Set(reference).size).toBe(15);
    expect([...reference].sort((a, b) => a - b)).toEqual(reference);
    for (const client of clients) {
      expect(messagesOnly(client.received).map((message) => message.seq)).toEqual(reference);
      for (const message of messagesOnly(client.received))
        expect(Object.keys(message).sort()).toEqual(['payload', 'sender', 'seq', 'ts', 'type']);
    }
    const first = messagesOnly(clients[1]?.received ?? []).find((message) => (message.payload as { from: number }).from === 0);
    expect(first?.sender).toBe('client:c0');
  });

  it('a client that reconnects with last_seq misses nothing and sees nothing twice', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId, 'client:roamer');
    const first = await connect(sessionId, token);
    for (let n = 1; n <= 3; n += 1)
      await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload: { n } } });
    await first.until((received) => messagesOnly(received).length === 3);
    const lastSeen = Math.max(...broadcastsOnly(first.received).map((message) => message.seq));
    first.socket.close(1000, 'going away');
    await first.closed;
    for (let n = 4; n <= 6; n += 1)
      await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload: { n } } });
    const second = await connect(sessionId, token, { lastSeq: lastSeen });
    await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload: { n: 7 } } });
    await second.until((received) => messagesOnly(received).some((message) => (message.payload as { n: number }).n === 7));
    const seqs = broadcastsOnly(second.received).map((message) => message.seq);
    expect(seqs.every((seq) => seq > lastSeen)).toBe(true);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(messagesOnly(second.received).map((message) => (message.payload as { n: number }).n)).toEqual([4, 5, 6, 7]);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('survives eviction: hibernated sockets keep receiving and the sequence carries on', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const client = await connect(sessionId, await mintToken(tenant, sessionId));
    client.send({ type: 'message', payload: 'before' });
    await client.until((received) => messagesOnly(received).length === 1);
    const before = broadcastsOnly(client.received).at(-1)?.seq ?? 0;
    await evictDurableObject(roomStub(sessionId));
    const published = await tenant.api.POST('/v1/sessions/{id}/messages', {
      params: { path: { id: sessionId } },
      body: { payload: 'after' },
    });
    expect(published.response.status).toBe(202);
    expect(published.data?.seq).toBe(before + 1);
    await client.until((received) => messagesOnly(received).length === 2);
    expect(client.received.at(-1)).toMatchObject({ seq: before + 1, sender: 'server', payload: 'after' });
    client.send({ type: 'message', payload: 'from a hibernated socket' });
    await client.until((received) => messagesOnly(received).length === 3);
  });

  it('answers ping with pong and reports bad frames without closing', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const client = await connect(sessionId, await mintToken(tenant, sessionId));
    const raw: string[] = [];
    client.socket.addEventListener('message', (event) => {
      raw.push(String(event.data));
    });
    client.send('{"type":"ping"}');
    await waitFor(() => raw.includes('{"type":"pong"}'));
    client.send('not json');
    client.send({ type: 'shout', payload: 1 });
    await client.until((received) => framesOf(received, 'error').length === 2);
    expect(framesOf(client.received, 'error').map((frame) => frame.code)).toEqual(['invalid_frame', 'invalid_frame']);
    client.send({ type: 'message', payload: 'still open' });
    await client.until((received) => messagesOnly(received).length === 1);
  });

  it('answers a ping the runtime does not match byte for byte itself, with the same pong', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const client = await connect(sessionId, await mintToken(tenant, sessionId));
    client.send('{ "type": "ping" }');
    await client.until((received) => framesOf(received, 'pong').length === 1);
    expect(framesOf(client.received, 'error')).toEqual([]);
  });

  it('every frame a socket receives is one the spec declares: an undeclared one fails the test that received it', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const client = await connect(sessionId, await mintToken(tenant, sessionId, 'client:contract'));
    // The room's own sockets, made to send what the room's typed serializeFrame would refuse to build.
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      for (const socket of state.getWebSockets()) {
        socket.send('{"type":"surprise"}');
        socket.send('{"type":"pong","extra":1}');
      }
    });
    await expect(client.until(() => false)).rejects.toThrow(/does not declare/);
    await waitFor(() => client.undeclared.length === 2);
    expect(client.undeclared.map((frame) => frame.data)).toEqual(['{"type":"surprise"}', '{"type":"pong","extra":1}']);
    // Provoked on purpose: acknowledged, so the check at the end of the test passes.
    client.undeclared.splice(0);
  });

  it('tracks presence and participants, with acknowledgements', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const alice = await connect(sessionId, await mintToken(tenant, sessionId, 'client:alice'));
    const bob = await connect(sessionId, await mintToken(tenant, sessionId, 'client:bob'));
    await alice.until((received) => received.some((message) => message.type === 'presence' && message.sender === 'client:bob'));
    bob.send({ type: 'ack', seq: 2 });
    await waitFor(() => true, 50);
    const listed = await tenant.api.GET('/v1/sessions/{id}/participants', { params: { path: { id: sessionId } } });
    expect(listed.data?.data.map((entry) => entry.participant).sort()).toEqual(['client:alice', 'client:bob']);
    await waitFor(() => true, 50);
    const afterAck = await tenant.api.GET('/v1/sessions/{id}/participants', { params: { path: { id: sessionId } } });
    expect(afterAck.data?.data.find((entry) => entry.participant === 'client:bob')?.last_ack_seq).toBe(2);
    bob.socket.close(1000, 'bye');
    await alice.until((received) => framesOf(received, 'presence').some((message) => message.payload.event === 'left'));
  });

  it('ending the session closes every socket with 4000 and refuses new tokens and connections', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId);
    const clients = [await connect(sessionId, token), await connect(sessionId, token)];
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
    for (const client of clients) expect((await client.closed).code).toBe(4000);
    await expectProblem(await connectRequest(sessionId, { token }), 409, 'session_ended');
    const minted = await tenant.api.POST('/v1/sessions/{id}/tokens', {
      params: { path: { id: sessionId } },
      body: { participant: 'client:late' },
    });
    await expectProblem(minted, 409, 'session_ended');
    await expectProblem(
      await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload: 1 } }),
      409,
      'session_ended',
    );
  });

  it('the alarm closes sockets silent for longer than 60 s with 4008, and only those', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const silent = await connect(sessionId, await mintToken(tenant, sessionId, 'client:silent'));
    const recent = await connect(sessionId, await mintToken(tenant, sessionId, 'client:recent'));
    // Backdate what the room last heard from each socket (recorded to LAST_SEEN_RESOLUTION_MS):
    // surely silent for over 60 s, and silent for 50 s.
    const silentMs: Record<string, number> = {
      'client:silent': STALE_AFTER_MS + LAST_SEEN_RESOLUTION_MS + 1_000,
      'client:recent': STALE_AFTER_MS - 10_000,
    };
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      for (const socket of state.getWebSockets()) {
        const attachment = socket.deserializeAttachment() as { participant: string; lastSeenMs: number };
        socket.serializeAttachment({ ...attachment, lastSeenMs: Date.now() - (silentMs[attachment.participant] ?? 0) });
      }
    });
    expect(await runDurableObjectAlarm(roomStub(sessionId))).toBe(true);
    expect((await silent.closed).code).toBe(4008);
    recent.send({ type: 'message', payload: 'still here' });
    await recent.until((received) => messagesOnly(received).some((message) => message.payload === 'still here'));
  });

  it('the alarm ends an expired session: sockets close with 4001 and the session reads as ended', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const client = await connect(sessionId, await mintToken(tenant, sessionId));
    const past = new Date(Date.now() - 1_000).toISOString();
    await env.DB.prepare('UPDATE sessions SET expires_at = ?2 WHERE id = ?1').bind(sessionId, past).run();
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      state.storage.sql.exec("UPDATE meta SET value = json_set(value, '$.expiresAt', ?) WHERE key = 'settings'", past);
    });
    // A fresh instance reads its state from storage, as after hibernation.
    await evictDurableObject(roomStub(sessionId));
    expect(await runDurableObjectAlarm(roomStub(sessionId))).toBe(true);
    expect((await client.closed).code).toBe(4001);
    const read = await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: sessionId } } });
    expect(read.data?.status).toBe('ended');
  });

  it('replays at most the last 1,000 missed messages, announcing the older part as a gap that history fills', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    // The room's own publish path (as POST /messages uses), without 1,100 HTTP round trips.
    const published = REPLAY_LIMIT + 100;
    await runInDurableObject(roomStub(sessionId), (room: SessionRoom) => {
      for (let n = 1; n <= published; n += 1) room.publish(testRoomSettings(), { n });
    });
    const client = await connect(sessionId, await mintToken(tenant, sessionId), { lastSeq: 0 });
    await client.until((received) => framesOf(received, 'resumed').length === 1);
    const [welcome, gap, ...rest] = client.received;
    expect(welcome).toMatchObject({ type: 'welcome', seq: published, participants: [] });
    expect(gap).toEqual({ type: 'gap', from_seq: 1, to_seq: published - REPLAY_LIMIT });
    const replayed = messagesOnly(rest).map((message) => message.seq);
    expect(replayed).toEqual(Array.from({ length: REPLAY_LIMIT }, (_, index) => published - REPLAY_LIMIT + 1 + index));
    expect(framesOf(rest, 'resumed')).toEqual([{ type: 'resumed', from_seq: published - REPLAY_LIMIT + 1, to_seq: published }]);
    // The gap is in the history, in order, and the history ends where the replay begins.
    const history = await tenant.api.GET('/v1/sessions/{id}/messages', {
      params: { path: { id: sessionId }, query: { after_seq: 0, limit: published - REPLAY_LIMIT } },
    });
    expect(history.data?.data.map((message) => message.seq)).toEqual(
      Array.from({ length: published - REPLAY_LIMIT }, (_, index) => index + 1),
    );
    expect(history.data).toMatchObject({
      earliest_seq: 1,
      next_after_seq: published - REPLAY_LIMIT,
      epoch: (welcome as WelcomeFrame).epoch,
    });
  });

  it('refuses a connection over max_connections with 409', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant, { max_connections: 1 });
    const token = await mintToken(tenant, sessionId);
    await connect(sessionId, token);
    await expectProblem(await connectRequest(sessionId, { token }), 409, 'session_full');
  });

  it("stamps a device participant's last_seen_at", async () => {
    const tenant = await createTenant();
    const device = await tenant.api.POST('/v1/devices', { body: { name: 'phone', kind: 'phone' } });
    const sessionId = await openSession(tenant);
    await connect(sessionId, await mintToken(tenant, sessionId, device.data?.id ?? ''));
    const read = await tenant.api.GET('/v1/devices/{id}', { params: { path: { id: device.data?.id ?? '' } } });
    expect(read.data?.last_seen_at).not.toBeNull();
  });
});

describe('connect is refused before the upgrade', () => {
  const secret = new TextEncoder().encode(env.SESSION_JWT_SECRET ?? '');

  async function forge(claims: Record<string, unknown>, alg = 'HS256', key = secret) {
    return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
  }

  it.each([
    ['no token', async () => undefined],
    ['garbage', async () => 'a.b.c'],
    ['alg none', async () => `${btoa('{"alg":"none"}').replace(/=+$/, '')}.${btoa('{"sub":"x"}').replace(/=+$/, '')}.`],
    [
      'another key',
      async (sessionId: string, orgId: string) => forge(claims(sessionId, orgId), 'HS256', new TextEncoder().encode('x'.repeat(40))),
    ],
    ['HS384', async (sessionId: string, orgId: string) => forge(claims(sessionId, orgId), 'HS384')],
    [
      'an expired token',
      async (sessionId: string, orgId: string) => forge({ ...claims(sessionId, orgId, -600), exp: Math.floor(Date.now() / 1000) - 60 }),
    ],
    [
      'a token not yet valid',
      async (sessionId: string, orgId: string) => forge({ ...claims(sessionId, orgId), nbf: Math.floor(Date.now() / 1000) + 600 }),
    ],
    ['a token for another session', async (_: string, orgId: string) => forge(claims('ses_otherotherotherother00', orgId))],
    ["another organisation's session", async (sessionId: string) => forge(claims(sessionId, 'org_someoneelse'))],
  ])('%s → 401, no socket', async (_, make) => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await make(sessionId, tenant.orgId);
    const response = await connectRequest(sessionId, token === undefined ? {} : { token });
    expect(response.webSocket).toBeNull();
    expect(response.headers.get('WWW-Authenticate')).toContain('invalid_token');
    await expectProblem(response, 401, 'invalid_token');
  });

  it('the token may travel in the query string, which the logs redact', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    await connect(sessionId, await mintToken(tenant, sessionId), { viaQuery: true });
  });

  it('a browser Origin off the allowlist → 403; a listed one or none is let through', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId);
    const refused = await connectRequest(sessionId, { token, headers: { Origin: 'https://evil.example.net' } });
    expect(refused.webSocket).toBeNull();
    await expectProblem(refused, 403, 'origin_not_allowed');
    await connect(sessionId, token, { headers: { Origin: 'http://localhost:5173' } });
    await connect(sessionId, token);
  });

  it('a valid token without an Upgrade header → 426', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId);
    const response = await tenant.api.GET('/v1/sessions/{id}/connect', { params: { path: { id: sessionId }, query: { token } } });
    await expectProblem(response, 426, 'upgrade_required');
  });
});

function claims(sessionId: string, orgId: string, shiftSeconds = 0) {
  const now = Math.floor(Date.now() / 1000) + shiftSeconds;
  return {
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    sub: 'client:forger',
    sid: sessionId,
    org: orgId,
    kid: 'key_forged',
    jti: 'tok_forged',
    iat: now,
    nbf: now,
    exp: now + 300,
  };
}

describe('client frames are read as strictly as HTTP bodies', () => {
  function nested(depth: number): unknown {
    let value: unknown = 'leaf';
    for (let level = 0; level < depth; level += 1) value = { level: value };
    return value;
  }

  /** A sender that records its raw frames, and an observer that sees what gets broadcast. */
  async function room() {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const sender = await connect(sessionId, await mintToken(tenant, sessionId, 'client:sender'));
    const observer = await connect(sessionId, await mintToken(tenant, sessionId, 'client:observer'));
    return { tenant, sessionId, sender, observer, errors: () => framesOf(sender.received, 'error') };
  }

  it('one depth limit for both: a frame 11 deep is refused and not broadcast, 10 deep is, like the HTTP body', async () => {
    const { tenant, sessionId, sender, observer, errors } = await room();
    // The frame's own object is level 1, as the HTTP body's is: the payload may nest 9 more levels.
    sender.send({ type: 'message', payload: nested(10) });
    sender.send({ type: 'message', payload: nested(9) });
    await observer.until((received) => messagesOnly(received).length === 1);
    await waitFor(() => errors().length === 1);
    expect(messagesOnly(observer.received)[0]?.payload).toEqual(nested(9));
    expect(errors()[0]).toEqual({
      type: 'error',
      code: 'invalid_frame',
      detail: `Nested deeper than 10 levels at /payload${'/level'.repeat(9)}`,
    });
    const publish = (payload: unknown) =>
      tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload } });
    expect((await publish(nested(9))).response.status).toBe(202);
    await expectProblem(await publish(nested(10)), 400, 'json_too_deep');
  });

  it.each([
    ['a repeated key', '{"type":"message","payload":{"a":1,"a":2}}', 'The key appears more than once in this object at /payload/a'],
    ['a repeated type', '{"type":"ack","seq":1,"type":"message","payload":1}', 'The key appears more than once in this object at /type'],
    [
      'the reserved key __proto__',
      '{"type":"message","payload":{"__proto__":{"x":1}}}',
      'The key __proto__ is reserved at /payload/__proto__',
    ],
    ['a lone surrogate', '{"type":"message","payload":["\\ud800"]}', 'Contains an unpaired UTF-16 surrogate at /payload/0'],
    ['a NUL character', '{"type":"message","payload":{"k":"a\\u0000"}}', 'Contains a NUL character at /payload/k'],
  ])('a frame with %s gets an error frame naming the place and is not broadcast', async (_, frame, detail) => {
    const { sender, observer, errors } = await room();
    sender.send(frame);
    sender.send({ type: 'message', payload: 'after' });
    await observer.until((received) => messagesOnly(received).length === 1);
    await waitFor(() => errors().length === 1);
    expect(messagesOnly(observer.received)[0]?.payload).toBe('after');
    expect(errors()[0]).toEqual({ type: 'error', code: 'invalid_frame', detail });
  });

  it('malformed JSON gets an error frame saying so', async () => {
    const { sender, errors } = await room();
    sender.send('{"type":"message",');
    await waitFor(() => errors().length === 1);
    expect(errors()[0]?.detail).toMatch(/^Frames are JSON text: /);
  });
});
