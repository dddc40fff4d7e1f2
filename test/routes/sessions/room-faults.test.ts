/**
 * A session's room (its Durable Object) failing: reads and idempotent calls are made once more on a
 * fresh stub, a publish never (it may have been broadcast), a hung room is given up on, and one
 * room's breaker leaves the other rooms alone.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ROOM_BREAKER, ROOM_CALL_TIMEOUT_MS } from '../../../src/routes/sessions/room.ts';
import { faultyNamespace, objectError } from '../../helpers/faults.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { openSession } from '../../helpers/realtime.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { callWorker } from '../../helpers/worker.ts';

function participants(tenant: Tenant, sessionId: string, rooms: DurableObjectNamespace): Promise<Response> {
  return callWorker(
    `/v1/sessions/${sessionId}/participants`,
    { headers: { Authorization: `Bearer ${tenant.key.secret}` } },
    { SESSION_ROOM: rooms },
  );
}

function publish(tenant: Tenant, sessionId: string, rooms: DurableObjectNamespace): Promise<Response> {
  return callWorker(
    `/v1/sessions/${sessionId}/messages`,
    {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ payload: { text: 'once' } }),
    },
    { SESSION_ROOM: rooms },
  );
}

const reset = () => objectError('Durable Object reset because its code was updated.', { retryable: true });

describe('a failing session room', () => {
  it('a read is made once more on a fresh stub after a retryable error', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const faulty = faultyNamespace(env.SESSION_ROOM, reset(), 1);
    expect((await participants(tenant, sessionId, faulty.namespace)).status).toBe(200);
    expect(faulty.calls()).toBe(2);
  });

  it('a publish is never repeated: 503 saying the message may have been sent', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const faulty = faultyNamespace(env.SESSION_ROOM, reset(), 1);
    const problem = await expectProblem(await publish(tenant, sessionId, faulty.namespace), 503, 'service_unavailable');
    expect(problem.detail).toContain('may have been sent');
    expect(faulty.calls()).toBe(1);
  });

  it('a room that never answers is a 504 with Retry-After, not a hang', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const faulty = faultyNamespace(env.SESSION_ROOM, 'hang');
    const started = Date.now();
    const response = await participants(tenant, sessionId, faulty.namespace);
    await expectProblem(response, 504, 'timeout');
    expect(response.headers.get('Retry-After')).toBe('1');
    expect(Date.now() - started).toBeLessThan(2 * ROOM_CALL_TIMEOUT_MS + 1_000);
  });

  it("opens that room's circuit only: the other rooms keep answering", async () => {
    const tenant = await createTenant();
    const failing = await openSession(tenant);
    const healthy = await openSession(tenant);
    const faulty = faultyNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}), Number.POSITIVE_INFINITY, failing);
    for (let failure = 0; failure < ROOM_BREAKER.failureThreshold; failure += 1) {
      await expectProblem(await publish(tenant, failing, faulty.namespace), 503, 'service_unavailable');
    }
    await expectProblem(await publish(tenant, failing, faulty.namespace), 503, 'circuit_open');
    expect(faulty.calls()).toBe(ROOM_BREAKER.failureThreshold);
    expect((await publish(tenant, healthy, faulty.namespace)).status).toBe(202);
  });
});
