/**
 * Presence as events: each join and leave a session's room announces becomes a
 * `session.participant_joined|left` event, kept in the room's own storage with the broadcast and
 * written to D1 by the room's alarm; a D1 that fails loses none and writes none twice.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OUTBOX_RETRY_MS, type SessionRoom } from '../../src/durable-objects/session-room.ts';
import { eventOfType, eventsOf } from '../helpers/events.ts';
import { connect, framesOf, mintToken, openSession } from '../helpers/realtime.ts';
import { createTenant } from '../helpers/tenants.ts';

afterEach(() => {
  vi.useRealTimers();
});

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

function outboxSize(sessionId: string): Promise<number> {
  return runInDurableObject(
    roomStub(sessionId),
    (_room, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM outbox').one().n,
  );
}

/** Gives the room a D1 whose every batch fails (or its own back): `env` is where the room reads its bindings. */
function setRoomDb(sessionId: string, db: D1Database): Promise<void> {
  return runInDurableObject(roomStub(sessionId), (room: SessionRoom) => {
    const roomEnv = (room as unknown as { env: Record<string, unknown> }).env;
    Object.defineProperty(room, 'env', { value: { ...roomEnv, DB: db }, configurable: true });
  });
}

const failingDb = {
  prepare: (sql: string) => env.DB.prepare(sql),
  batch: () => Promise.reject(new Error('D1_ERROR: Network connection lost.')),
} as unknown as D1Database;

describe('presence events', () => {
  it('a join and a leave are events carrying the session, the participant and the seq the participants saw', async () => {
    const tenant = await createTenant();
    const session = await openSession(tenant);
    const socket = await connect(session, await mintToken(tenant, session, 'client:agent-7'));
    const joined = await eventOfType(tenant, 'session.participant_joined');
    const [presence] = framesOf(socket.received, 'presence');
    expect(joined.data).toEqual({ session_id: session, participant: 'client:agent-7', seq: presence?.seq, at: presence?.ts });

    // A second connection of the same participant announces nothing; the last one closing is the leave.
    const second = await connect(session, await mintToken(tenant, session, 'client:agent-7'));
    socket.socket.close(1000, 'one of two');
    second.socket.close(1000, 'the last');
    const left = await eventOfType(tenant, 'session.participant_left');
    expect(left.data).toMatchObject({ session_id: session, participant: 'client:agent-7' });
    expect((left.data as { seq: number }).seq).toBeGreaterThan(presence?.seq ?? 0);
    expect((await eventsOf(tenant)).map((event) => event.type)).toEqual([
      'session.created',
      'session.participant_joined',
      'session.participant_left',
    ]);
    expect(await outboxSize(session)).toBe(0);
  });

  it('keeps the event through a failed D1 write and writes it once, when D1 answers again', async () => {
    const tenant = await createTenant();
    const session = await openSession(tenant);
    // Make the room exist, then give it the failing D1 before anyone joins.
    await runInDurableObject(roomStub(session), () => undefined);
    await setRoomDb(session, failingDb);
    await connect(session, await mintToken(tenant, session, 'client:unlucky'));
    await vi.waitFor(async () => expect(await outboxSize(session)).toBe(1));
    await runDurableObjectAlarm(roomStub(session));
    expect(await outboxSize(session)).toBe(1);
    expect((await eventsOf(tenant)).map((event) => event.type)).toEqual(['session.created']);

    await setRoomDb(session, env.DB);
    // Before its retry time the room does not try again; after it, the event is written and forgotten.
    await runDurableObjectAlarm(roomStub(session));
    expect(await outboxSize(session)).toBe(1);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + OUTBOX_RETRY_MS + 1_000);
    await runDurableObjectAlarm(roomStub(session));
    expect(await outboxSize(session)).toBe(0);
    const joined = await eventOfType(tenant, 'session.participant_joined');

    // A room that wrote the event and stopped before forgetting it writes it again: D1 keeps one.
    await runInDurableObject(roomStub(session), (_room, state) => {
      state.storage.sql.exec(
        "INSERT INTO outbox (id, org_id, type, data) VALUES (?, ?, 'session.participant_joined', ?)",
        joined.id,
        tenant.orgId,
        JSON.stringify(joined.data),
      );
    });
    await runDurableObjectAlarm(roomStub(session));
    expect(await outboxSize(session)).toBe(0);
    const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM events WHERE id = ?1').bind(joined.id).first<{ n: number }>();
    expect(row?.n).toBe(1);
  });
});
