/**
 * Idempotency keys on the `claim` routes, whose effect is not only a D1 change (a broadcast, a
 * session's sockets closed): the key is claimed before the handler runs, a duplicate meanwhile
 * gets 409 `idempotency_key_in_use`, and the answer is saved after. Shown on publishing a message.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ageRecords, postWithKey, savedRecords } from '../helpers/idempotency.ts';
import { expectProblem } from '../helpers/problem.ts';
import { openSession } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';

function publish(tenant: Tenant, sessionId: string, key: string, payload: unknown = { text: 'once' }): Promise<Response> {
  return postWithKey(tenant, `/v1/sessions/${sessionId}/messages`, key, { payload });
}

/** The seq the next broadcast gets, less one: how many broadcasts the session has had. */
async function broadcasts(tenant: Tenant, sessionId: string): Promise<number> {
  const { data } = await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessionId } }, body: { payload: 'probe' } });
  if (!data) throw new Error('could not publish');
  return data.seq - 1;
}

describe('Idempotency-Key on a claim route', () => {
  it('replays the first response with Idempotent-Replayed, and broadcasts once', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const first = await publish(tenant, sessionId, 'replay');
    expect(first.status).toBe(202);
    expect(first.headers.get('Idempotent-Replayed')).toBeNull();
    const second = await publish(tenant, sessionId, 'replay');
    expect(second.status).toBe(202);
    expect(second.headers.get('Idempotent-Replayed')).toBe('true');
    expect(second.headers.get('Content-Type')).toBe(first.headers.get('Content-Type'));
    expect(await second.text()).toBe(await first.text());
    expect(await broadcasts(tenant, sessionId)).toBe(1);
  });

  it('the same key with a different body is a 422, and broadcasts nothing', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    expect((await publish(tenant, sessionId, 'reused')).status).toBe(202);
    await expectProblem(await publish(tenant, sessionId, 'reused', { text: 'different' }), 422, 'idempotency_key_reused');
    expect(await broadcasts(tenant, sessionId)).toBe(1);
  });

  it('keys are per organisation: another organisation may use the same key', async () => {
    const alpha = await createTenant();
    const beta = await createTenant();
    expect((await publish(alpha, await openSession(alpha), 'shared')).status).toBe(202);
    const response = await publish(beta, await openSession(beta), 'shared');
    expect(response.status).toBe(202);
    expect(response.headers.get('Idempotent-Replayed')).toBeNull();
  });

  it('N concurrent requests with one key run the handler once; the others get 409 with Retry-After, or the replay', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const responses = await Promise.all(Array.from({ length: 10 }, () => publish(tenant, sessionId, 'concurrent')));
    const bodies = new Set<string>();
    for (const response of responses) {
      if (response.status === 202) bodies.add(await response.text());
      else {
        expect(response.headers.get('Retry-After')).toBe('1');
        await expectProblem(response, 409, 'idempotency_key_in_use');
      }
    }
    expect(bodies.size).toBe(1);
    expect(await broadcasts(tenant, sessionId)).toBe(1);
  });

  it('a request that failed validation saves nothing: the same key then works with a valid body', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const invalid = await postWithKey(tenant, `/v1/sessions/${sessionId}/messages`, 'after-400', { text: 'no payload' });
    await expectProblem(invalid, 400, 'validation_failed');
    expect(await savedRecords(tenant)).toEqual({});
    expect((await publish(tenant, sessionId, 'after-400')).status).toBe(202);
  });

  it("a refusal by the handler is the request's result and is replayed", async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
    const first = await publish(tenant, sessionId, 'refused');
    const firstText = await first.clone().text();
    await expectProblem(first, 409, 'session_ended');
    const replay = await publish(tenant, sessionId, 'refused');
    expect(replay.status).toBe(409);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(replay.headers.get('Content-Type')).toBe('application/problem+json');
    // The very same document, the first request's request_id included, as a replay should be.
    expect(await replay.text()).toBe(firstText);
  });

  it('an abandoned in-flight claim (its request died) can be taken over once its lock expires', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    expect((await publish(tenant, sessionId, 'abandoned')).status).toBe(202);
    await env.DB.prepare(
      "UPDATE idempotency_keys SET state = 'in_flight', locked_until = '2000-01-01T00:00:00.000Z', response_status = NULL WHERE org_id = ?1 AND key = 'abandoned'",
    )
      .bind(tenant.orgId)
      .run();
    const retried = await publish(tenant, sessionId, 'abandoned');
    expect(retried.status).toBe(202);
    expect(retried.headers.get('Idempotent-Replayed')).toBeNull();
  });

  it('a key older than 24 hours is forgotten', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    expect((await publish(tenant, sessionId, 'old')).status).toBe(202);
    await ageRecords(tenant);
    // A day has passed for the room too: its memory of the key as a message id (10 minutes) is long gone.
    await runInDurableObject(env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId)), (_room, state) => {
      state.storage.sql.exec('UPDATE published_ids SET at_ms = at_ms - ?', 24 * 60 * 60 * 1000);
    });
    const again = await publish(tenant, sessionId, 'old');
    expect(again.status).toBe(202);
    expect(again.headers.get('Idempotent-Replayed')).toBeNull();
    expect(await broadcasts(tenant, sessionId)).toBe(2);
  });

  it.each([
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['with a space', 'has space'],
  ])('refuses a malformed key (%s) with 400', async (_, key) => {
    const tenant = await createTenant();
    const problem = await expectProblem(await publish(tenant, await openSession(tenant), key), 400, 'validation_failed');
    expect(problem.errors?.[0]).toMatchObject({ location: 'header' });
  });

  it('requests without the header are not deduplicated', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    await broadcasts(tenant, sessionId);
    expect(await broadcasts(tenant, sessionId)).toBe(1);
  });
});
