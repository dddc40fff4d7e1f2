/**
 * The request deadline (src/middleware/deadline.ts): a request answers by it whatever it waits on,
 * and the dependency calls inside it stop waiting when it passes, not at their own longer timeouts.
 * The app here is the real one with a short deadline, so the tests take a fraction of a second.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { faultyD1, touching } from '../helpers/faults.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant } from '../helpers/tenants.ts';
import { BASE_URL } from '../helpers/worker.ts';

const DEADLINE_MS = 300;
const app = createApp({ requestDeadlineMs: DEADLINE_MS });
// Slower than the deadline, and held by no dependency guard: only the deadline can end it.
app.all('/test/stuck', () => new Promise<Response>((resolve) => setTimeout(() => resolve(new Response('late')), 3_000)));

async function call(path: string, init: RequestInit = {}, overrides: Record<string, unknown> = {}) {
  const ctx = createExecutionContext();
  const started = Date.now();
  const response = await app.fetch(new Request(new URL(path, BASE_URL), init), { ...env, ...overrides }, ctx);
  const elapsed = Date.now() - started;
  await waitOnExecutionContext(ctx);
  return { response, elapsed };
}

describe('the request deadline', () => {
  it('answers a request still running when it passes with 504 timeout and Retry-After', async () => {
    const { response, elapsed } = await call('/test/stuck');
    const problem = await expectProblem(response, 504, 'timeout');
    expect(response.headers.get('Retry-After')).toBe('1');
    expect(response.headers.get('X-Request-Id')).toMatch(/^req_/);
    expect(problem.detail).toBe(`The request did not finish within ${DEADLINE_MS} ms.`);
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('tells a client whose request changes something how to learn whether it was made', async () => {
    const { response } = await call('/test/stuck', { method: 'POST' });
    const problem = await expectProblem(response, 504, 'timeout');
    expect(problem.detail).toContain('repeat it with the same Idempotency-Key');
  });

  it('cuts a hung D1 read at the deadline, not at the read timeout (1 s per attempt, 2.5 s in all)', async () => {
    const tenant = await createTenant();
    const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'slow', kind: 'iot' } });
    const deviceReads = touching('FROM devices WHERE org_id = ?1 AND id = ?2');
    const faulty = faultyD1({ kind: 'hang' }, deviceReads, 10);
    const { response, elapsed } = await call(
      `/v1/devices/${data?.id}`,
      { headers: { Authorization: `Bearer ${tenant.key.secret}` } },
      { DB: faulty.db },
    );
    const problem = await expectProblem(response, 504, 'timeout');
    // The database's own problem: the read was stopped at the deadline, and says which dependency it was.
    expect(problem.detail).toBe('The database did not answer in time.');
    expect(elapsed).toBeLessThan(1_000);
    expect(faulty.calls.filter(deviceReads)).toHaveLength(1);
  });

  it('leaves a request that finishes in time alone', async () => {
    const { response } = await call('/health');
    expect(response.status).toBe(200);
  });
});
