import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/durable-objects/rate-limiter.ts';
import { ORGANIZATION_LEASE_SIZE } from '../../src/middleware/rate-limit.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

const RATE_LIMIT = /^"(read|write|token|auth-failures)";r=(\d+);t=(\d+)$/;

describe('per-organisation rate limits', () => {
  it('announce the policy and what is left on every authenticated response', async () => {
    const tenant = await createTenant();
    await tenant.setLimits({ read: 50 });
    const first = await tenant.api.GET('/v1/api-keys');
    expect(first.response.headers.get('RateLimit-Policy')).toBe('"read";q=50;w=60');
    const [, policy, remaining, reset] = RATE_LIMIT.exec(first.response.headers.get('RateLimit') ?? '') ?? [];
    expect(policy).toBe('read');
    expect(Number(remaining)).toBe(49);
    expect(Number(reset)).toBeGreaterThanOrEqual(1);
    expect(Number(reset)).toBeLessThanOrEqual(60);
    const second = await tenant.api.GET('/v1/api-keys');
    expect(second.response.headers.get('RateLimit')).toMatch(/^"read";r=48;t=\d+$/);
  });

  it('admit exactly L of N concurrent requests against a limit of L, and refuse the rest with 429 and Retry-After', async () => {
    const tenant = await createTenant();
    const limit = 7;
    await tenant.setLimits({ read: limit });
    const responses = await Promise.all(Array.from({ length: 20 }, () => tenant.api.GET('/v1/audit-events')));
    const admitted = responses.filter((result) => result.response.status === 200);
    const refused = responses.filter((result) => result.response.status === 429);
    expect(admitted).toHaveLength(limit);
    expect(refused).toHaveLength(20 - limit);
    const [firstRefused] = refused;
    if (!firstRefused) throw new Error('no request was refused');
    const problem = await expectProblem(firstRefused, 429, 'rate_limited');
    expect(problem.detail).toMatch(/^The read limit of 7 requests per 60 s is used up/);
    const retryAfter = Number(refused[0]?.response.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused[0]?.response.headers.get('RateLimit')).toMatch(/^"read";r=0;t=\d+$/);
  });

  it('count each class separately, and each organisation separately', async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    await tenant.setLimits({ read: 1, write: 5 });
    await other.setLimits({ read: 1 });
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(429);
    const write = await tenant.api.POST('/v1/api-keys', { body: { name: 'still allowed', scopes: ['devices:read'] } });
    expect(write.response.status).toBe(201);
    expect(write.response.headers.get('RateLimit-Policy')).toBe('"write";q=5;w=60');
    expect((await other.api.GET('/v1/api-keys')).response.status).toBe(200);
  });
});

/** The subject's RateLimiter, as any isolate reaches it. */
function limiter(subject: string) {
  // The binding's class is fixed by wrangler.toml; the generated env type does not know it.
  const namespace = env.RATE_LIMITER as unknown as DurableObjectNamespace<RateLimiter>;
  return namespace.get(namespace.idFromName(subject));
}

describe('rate-limit leases', () => {
  it('never admit more than the limit across isolates: tokens leased elsewhere are not spent here', async () => {
    const tenant = await createTenant();
    await tenant.setLimits({ read: 20 });
    // Another isolate's leases: 15 of the 20 tokens, one at a time.
    for (let index = 0; index < 15; index += 1) {
      expect((await limiter(`org:${tenant.orgId}:read`).lease(20, 60, 1)).granted).toBe(1);
    }
    const statuses = [];
    for (let index = 0; index < 10; index += 1) statuses.push((await tenant.api.GET('/v1/api-keys')).response.status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
  });

  it('grant at most a tenth of what is left, at least one token, and nothing past the limit', async () => {
    const stub = limiter(`test:${crypto.randomUUID()}`);
    expect(await stub.lease(1000, 60, 500)).toMatchObject({ granted: 100, unleased: 900 });
    expect(await stub.lease(1000, 60, 50)).toMatchObject({ granted: 50, unleased: 850 });
    const grants: number[] = [];
    for (let grant = await stub.lease(1000, 60, 1000); grant.granted > 0; grant = await stub.lease(1000, 60, 1000)) {
      grants.push(grant.granted);
    }
    expect(grants.reduce((sum, granted) => sum + granted, 0)).toBe(850);
    expect(grants.slice(-10)).toEqual(Array(10).fill(1));
    expect((await stub.lease(1000, 60, 1)).granted).toBe(0);
  });

  it('cost one round trip per lease, not one per request', async () => {
    const tenant = await createTenant();
    const limit = 1_000_000;
    await tenant.setLimits({ read: limit });
    for (let index = 0; index < 10; index += 1) expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    // Ten requests took one lease: what is left unleased is the limit less one lease (and this probe's token).
    const probe = await limiter(`org:${tenant.orgId}:read`).lease(limit, 60, 1);
    expect(probe.unleased).toBe(limit - ORGANIZATION_LEASE_SIZE - 1);
  });

  it('lease the next tokens in the background once half a lease is spent', async () => {
    const tenant = await createTenant();
    const limit = 1_000_000;
    await tenant.setLimits({ read: limit });
    const spent = Math.ceil(ORGANIZATION_LEASE_SIZE * 0.6);
    for (let index = 0; index < spent; index += 1) expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    // No request has needed a second lease yet; the prefetch (a waitUntil) took it. Each probe takes a token.
    let probes = 0;
    let unleased = 0;
    do {
      probes += 1;
      unleased = (await limiter(`org:${tenant.orgId}:read`).lease(limit, 60, 1)).unleased;
      if (unleased !== limit - 2 * ORGANIZATION_LEASE_SIZE - probes) await scheduler.wait(20);
    } while (unleased !== limit - 2 * ORGANIZATION_LEASE_SIZE - probes && probes < 25);
    expect(unleased).toBe(limit - 2 * ORGANIZATION_LEASE_SIZE - probes);
  });
});

describe('failed authentication per client IP', () => {
  it('turns into 429 once an IP has failed too often, while other IPs still get 401', async () => {
    const overrides = { AUTH_FAILURE_LIMIT: '3' };
    const attempt = (ip: string) =>
      callWorker('/v1/api-keys', { headers: { Authorization: 'Bearer guess', 'CF-Connecting-IP': ip } }, overrides);
    const statuses = [];
    for (let index = 0; index < 5; index += 1) statuses.push((await attempt('203.0.113.7')).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const blocked = await attempt('203.0.113.7');
    expect(blocked.headers.get('Retry-After')).toMatch(/^\d+$/);
    await expectProblem(blocked, 429, 'rate_limited');
    expect((await attempt('198.51.100.1')).status).toBe(401);
  });
});
