/**
 * GET /v1/sessions/{id}/messages (issue 13 §3): the session's history, read from its room, paged by
 * seq, kept per plan, and meeting the live stream with no gap and no overlap.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { components } from '../../../generated/api.ts';
import type { SessionRoom } from '../../../src/durable-objects/session-room.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { broadcastsOnly, connect, mintToken, openSession, testRoomSettings } from '../../helpers/realtime.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { apiClient } from '../../helpers/worker.ts';

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

/** Every page of the history after `afterSeq`, following next_after_seq. */
type SessionMessage = components['schemas']['SessionMessage'];

async function readAll(tenant: Tenant, sessionId: string, afterSeq: number, limit: number): Promise<SessionMessage[]> {
  const messages: SessionMessage[] = [];
  let cursor: number | null = afterSeq;
  while (cursor !== null) {
    const page: { data?: components['schemas']['SessionHistory'] } = await tenant.api.GET('/v1/sessions/{id}/messages', {
      params: { path: { id: sessionId }, query: { after_seq: cursor, limit } },
    });
    if (!page.data) throw new Error('could not read the history');
    messages.push(...page.data.data);
    cursor = page.data.next_after_seq;
  }
  return messages;
}

describe('GET /v1/sessions/{id}/messages', () => {
  it('pages through the history in seq order, each broadcast exactly as the live sockets received it', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const live = await connect(sessionId, await mintToken(tenant, sessionId, 'client:live'));
    for (let n = 1; n <= 25; n += 1) live.send({ type: 'message', ...(n % 2 === 0 ? { id: `even-${n}` } : {}), payload: { n } });
    await live.until((received) => broadcastsOnly(received).length === 26);
    const history = await readAll(tenant, sessionId, 0, 7);
    expect(history).toEqual(broadcastsOnly(live.received));
    const first = await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } } });
    expect(first.data).toMatchObject({ earliest_seq: 1, last_seq: 26, next_after_seq: null });
    expect(first.data?.epoch).toMatch(/^ep_/);
  });

  it('history up to last_seq, then a socket resumed from it: every message once, no gap, no overlap', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    await runInDurableObject(roomStub(sessionId), (room: SessionRoom) => {
      for (let n = 1; n <= 40; n += 1) room.publish(testRoomSettings(), { n });
    });
    const page = await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId }, query: { limit: 1000 } } });
    const lastSeq = page.data?.last_seq ?? 0;
    const resumed = await connect(sessionId, await mintToken(tenant, sessionId, 'client:late'), { lastSeq, epoch: page.data?.epoch ?? '' });
    await runInDurableObject(roomStub(sessionId), (room: SessionRoom) => {
      room.publish(testRoomSettings(), { n: 41 });
    });
    await resumed.until((received) => broadcastsOnly(received).some((frame) => frame.type === 'message' && frame.seq > lastSeq));
    const seqs = [...(page.data?.data ?? []), ...broadcastsOnly(resumed.received)].map((frame) => frame.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
  });

  it('keeps at most history.max_messages and none older than history.max_age_seconds; earliest_seq says where it begins', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    await env.DB.prepare('UPDATE sessions SET history_max_messages = 100 WHERE id = ?1').bind(sessionId).run();
    const session = testRoomSettings({ historyMaxMessages: 100 });
    await runInDurableObject(roomStub(sessionId), (room: SessionRoom) => {
      for (let n = 1; n <= 300; n += 1) room.publish(session, { n });
    });
    const byCount = await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId }, query: { limit: 1000 } } });
    expect(byCount.data?.data.map((message) => message.seq)).toEqual(Array.from({ length: 100 }, (_, index) => 201 + index));
    expect(byCount.data?.earliest_seq).toBe(201);
    // Storage is pruned in steps of 64 broadcasts: never more than 100 + 63 rows kept.
    const stored = await runInDurableObject(
      roomStub(sessionId),
      (_room, state) => state.storage.sql.exec('SELECT count(*) AS n FROM messages').one().n,
    );
    expect(stored).toBeLessThan(164);

    // The oldest ten of what is left are backdated past the plan's 30 days: a read no longer returns them.
    const earliest = byCount.data?.earliest_seq ?? 0;
    await runInDurableObject(roomStub(sessionId), (_room, state) => {
      state.storage.sql.exec(
        'UPDATE messages SET ts = ? WHERE seq < ?',
        new Date(Date.now() - 31 * 86_400_000).toISOString(),
        earliest + 10,
      );
    });
    const byAge = await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId }, query: { limit: 1000 } } });
    expect(byAge.data?.earliest_seq).toBe(earliest + 10);
    expect(byAge.data?.data[0]?.seq).toBe(earliest + 10);
  });

  it("a session's history retention comes from the organisation's plan when it was opened", async () => {
    const free = await createTenant({ plan: 'free' });
    const pro = await createTenant({ plan: 'pro' });
    const read = async (tenant: Tenant) =>
      (await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: await openSession(tenant) } } })).data?.history;
    expect(await read(free)).toEqual({ max_messages: 10_000, max_age_seconds: 86_400 });
    expect(await read(pro)).toEqual({ max_messages: 100_000, max_age_seconds: 7 * 86_400 });
  });

  it('needs sessions:read, and another organisation cannot read the history', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const other = await createTenant();
    await expectProblem(await other.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } } }), 404, 'not_found');
    const narrow = apiClient({ apiKey: (await tenant.addKey({ scopes: ['sessions:write'] })).secret });
    await expectProblem(await narrow.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } } }), 403, 'insufficient_scope');
  });

  it('refuses a limit out of range with 400', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    await expectProblem(
      await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId }, query: { limit: 1001 } } }),
      400,
      'validation_failed',
    );
  });
});
