/**
 * The RateLimiter failing (its Durable Object errs, hangs, or its circuit is open): requests keep
 * being served against a reduced local allowance, never unlimited, and the headers say so.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DEGRADED_SHARE, LEASE_TIMEOUT_MS, RATE_LIMITER_BREAKER } from '../../src/middleware/rate-limit.ts';
import { faultyNamespace, objectError } from '../helpers/faults.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

function listDevices(tenant: Tenant, rateLimiter: DurableObjectNamespace): Promise<Response> {
  return callWorker('/v1/devices', { headers: { Authorization: `Bearer ${tenant.key.secret}` } }, { RATE_LIMITER: rateLimiter });
}

describe('when the RateLimiter cannot be reached', () => {
  it('a retryable object error is repeated on a fresh stub, and the request is counted as usual', async () => {
    const tenant = await createTenant();
    const faulty = faultyNamespace(
      env.RATE_LIMITER,
      objectError('Durable Object reset because its code was updated.', { retryable: true }),
      1,
    );
    const response = await listDevices(tenant, faulty.namespace);
    expect(response.status).toBe(200);
    expect(response.headers.get('RateLimit-Policy')).toMatch(/^"read";q=\d+;w=60$/);
    expect(faulty.calls()).toBe(2);
  });

  it(`an overloaded object is not repeated: the request is served from ${DEGRADED_SHARE * 100} % of the limit, and the headers say so`, async () => {
    const tenant = await createTenant();
    await tenant.setLimits({ read: 50 });
    const faulty = faultyNamespace(env.RATE_LIMITER, objectError('Durable Object is overloaded.', { retryable: true, overloaded: true }));
    const response = await listDevices(tenant, faulty.namespace);
    expect(response.status).toBe(200);
    expect(response.headers.get('RateLimit-Policy')).toBe('"read-degraded";q=5;w=60');
    expect(response.headers.get('RateLimit')).toMatch(/^"read-degraded";r=4;t=\d+$/);
    expect(faulty.calls()).toBe(1);
  });

  it('the reduced allowance runs out: a 429 with Retry-After, never unlimited', async () => {
    const tenant = await createTenant();
    await tenant.setLimits({ read: 20 });
    const faulty = faultyNamespace(env.RATE_LIMITER, objectError('Durable Object storage failed.', {}));
    const statuses: number[] = [];
    for (let request = 0; request < 3; request += 1) statuses.push((await listDevices(tenant, faulty.namespace)).status);
    expect(statuses).toEqual([200, 200, 429]);
    const refused = await listDevices(tenant, faulty.namespace);
    await expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
  });

  it(`a hung object is given up on after ${LEASE_TIMEOUT_MS} ms per attempt, and the breaker then stops asking it`, async () => {
    const tenant = await createTenant();
    const faulty = faultyNamespace(env.RATE_LIMITER, 'hang');
    const started = Date.now();
    const first = await listDevices(tenant, faulty.namespace);
    expect(first.status).toBe(200);
    expect(first.headers.get('RateLimit-Policy')).toMatch(/-degraded"/);
    expect(Date.now() - started).toBeLessThan(4 * LEASE_TIMEOUT_MS);
    // Timeouts are repeated once each: the breaker opens after its threshold of failed calls.
    while (faulty.calls() < RATE_LIMITER_BREAKER.failureThreshold) await listDevices(tenant, faulty.namespace);
    const callsWhenOpen = faulty.calls();
    const paused = Date.now();
    expect((await listDevices(tenant, faulty.namespace)).status).toBe(200);
    expect(faulty.calls()).toBe(callsWhenOpen);
    expect(Date.now() - paused).toBeLessThan(LEASE_TIMEOUT_MS);
  });
});
