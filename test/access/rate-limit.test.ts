import { describe, expect, it } from 'vitest';
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
