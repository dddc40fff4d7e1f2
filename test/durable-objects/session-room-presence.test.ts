/**
 * Presence that holds up (issue 13 §4): a `welcome` with everyone present and the seq it is
 * consistent with; presence per connection; a grace period after an abrupt disconnect so a quick
 * reconnect does not flap.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { PresenceFrame, WelcomeFrame } from '../../src/schemas/realtime.ts';
import { broadcastsOnly, connect, framesOf, mintToken, openSession, type TestSocket } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

async function join(tenant: Tenant, sessionId: string, participant: string): Promise<TestSocket> {
  const socket = await connect(sessionId, await mintToken(tenant, sessionId, participant));
  await socket.until((received) => framesOf(received, 'welcome').length === 1);
  return socket;
}

/** The presence events the observer saw of others (its own join is left out). */
function presenceOf(observer: TestSocket): Array<[string, PresenceFrame['payload']['event']]> {
  return othersPresence(observer).map((frame) => [frame.sender, frame.payload.event]);
}

function othersPresence(observer: TestSocket): PresenceFrame[] {
  return framesOf(observer.received, 'presence').filter((frame) => frame.sender !== 'client:observer');
}

/** Waits until the observer has seen the broadcast with this seq (everything before it then arrived too). */
async function seenUpTo(observer: TestSocket, seq: number): Promise<void> {
  await observer.until((received) => broadcastsOnly(received).some((frame) => frame.seq >= seq));
}

/** Publishes a marker through the room and returns its seq: what happened before it has been broadcast. */
async function marker(tenant: Tenant, sessionId: string): Promise<number> {
  const { data } = await tenant.api.POST('/v1/sessions/{id}/messages', {
    params: { path: { id: sessionId } },
    body: { payload: 'marker' },
  });
  if (!data) throw new Error('could not publish the marker');
  return data.seq;
}

describe('session presence', () => {
  it("a late joiner's welcome lists everyone present, each once, consistent with its seq", async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const alice = await join(tenant, sessionId, 'client:alice');
    await join(tenant, sessionId, 'client:bob');
    await join(tenant, sessionId, 'client:bob');
    await join(tenant, sessionId, 'client:carol');
    await seenUpTo(alice, 3);
    const late = await join(tenant, sessionId, 'client:late');
    const welcome = late.received[0] as WelcomeFrame;
    expect(welcome).toMatchObject({ type: 'welcome', seq: 3, participants: ['client:alice', 'client:bob', 'client:carol'] });
    expect(welcome.limits).toEqual({ max_frame_bytes: 65_536, frames_per_second: 50, frame_burst: 100, presence_grace_seconds: 15 });
    expect(welcome.epoch).toMatch(/^ep_[0-9A-Za-z]{22}$/);
    // Its own join is the next broadcast, after the snapshot.
    await late.until((received) => framesOf(received, 'presence').length === 1);
    expect(framesOf(late.received, 'presence')[0]).toMatchObject({ seq: 4, sender: 'client:late', payload: { event: 'joined' } });
  });

  it('presence is per connection: a participant on two sockets joins once and leaves only when both are gone', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const observer = await join(tenant, sessionId, 'client:observer');
    const phone = await join(tenant, sessionId, 'client:dana');
    const laptop = await join(tenant, sessionId, 'client:dana');
    expect((laptop.received[0] as WelcomeFrame).participants).toEqual(['client:dana', 'client:observer']);
    phone.socket.close(1000, 'bye from the phone');
    await phone.closed;
    await seenUpTo(observer, await marker(tenant, sessionId));
    expect(presenceOf(observer)).toEqual([['client:dana', 'joined']]);
    laptop.socket.close(1000, 'bye from the laptop');
    await observer.until(() => othersPresence(observer).length === 2);
    expect(presenceOf(observer)).toEqual([
      ['client:dana', 'joined'],
      ['client:dana', 'left'],
    ]);
  });

  it('a socket that goes away (1001) and comes back within the grace period announces neither a leave nor a join', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const observer = await join(tenant, sessionId, 'client:observer');
    const first = await join(tenant, sessionId, 'client:erin');
    first.socket.close(1001, 'page reload');
    await first.closed;
    const again = await join(tenant, sessionId, 'client:erin');
    // Still present to the room while it was away: the welcome lists it.
    expect((again.received[0] as WelcomeFrame).participants).toEqual(['client:erin', 'client:observer']);
    // The grace period is over, and nothing is due: the alarm announces nothing.
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      expect(state.storage.sql.exec('SELECT count(*) AS n FROM pending_leaves').one().n).toBe(0);
    });
    await runDurableObjectAlarm(roomStub(sessionId));
    await seenUpTo(observer, await marker(tenant, sessionId));
    expect(presenceOf(observer)).toEqual([['client:erin', 'joined']]);
  });

  it('a participant that does not come back is announced as left once the grace period is over, with a seq', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant, { presence_grace_seconds: 30 });
    const observer = await join(tenant, sessionId, 'client:observer');
    const gone = await join(tenant, sessionId, 'client:frank');
    gone.socket.close(1001, 'network gone');
    await gone.closed;
    await seenUpTo(observer, await marker(tenant, sessionId));
    expect(presenceOf(observer)).toEqual([['client:frank', 'joined']]);
    // The alarm before the grace is over announces nothing; after it (backdated here), the leave.
    await runDurableObjectAlarm(roomStub(sessionId));
    await seenUpTo(observer, await marker(tenant, sessionId));
    expect(presenceOf(observer)).toEqual([['client:frank', 'joined']]);
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      const pending = state.storage.sql.exec<{ leave_at_ms: number }>('SELECT leave_at_ms FROM pending_leaves').toArray();
      expect(pending).toHaveLength(1);
      expect(pending[0]?.leave_at_ms).toBeGreaterThan(Date.now() + 25_000);
      state.storage.sql.exec('UPDATE pending_leaves SET leave_at_ms = ?', Date.now() - 1);
    });
    await runDurableObjectAlarm(roomStub(sessionId));
    await observer.until(() => othersPresence(observer).length === 2);
    const [joined, left] = othersPresence(observer);
    expect(left).toMatchObject({ sender: 'client:frank', payload: { event: 'left' } });
    expect(left?.seq).toBeGreaterThan(joined?.seq ?? Number.POSITIVE_INFINITY);
  });

  it('with presence_grace_seconds 0, an abrupt close leaves at once', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant, { presence_grace_seconds: 0 });
    const observer = await join(tenant, sessionId, 'client:observer');
    const gone = await join(tenant, sessionId, 'client:gina');
    gone.socket.close(1001, 'gone');
    await observer.until(() => othersPresence(observer).length === 2);
    expect(presenceOf(observer)).toEqual([
      ['client:gina', 'joined'],
      ['client:gina', 'left'],
    ]);
  });
});
