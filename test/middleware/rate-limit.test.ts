import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BUCKET_MS,
  CLOCK_MARGIN_MS,
  horizonBuckets,
  type RateLimiter,
  type RateLimitGrant,
} from '../../src/durable-objects/rate-limiter.ts';
import {
  IsolateLeases,
  type LeaseChannel,
  ORGANIZATION_LEASE_SIZE,
  RATE_LIMIT_WINDOW_SECONDS,
  type RateLimitDecision,
} from '../../src/middleware/rate-limit.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

const RATE_LIMIT = /^"(read|write|token|auth-failures)";r=(\d+);t=(\d+)$/;
const WINDOW_MS = RATE_LIMIT_WINDOW_SECONDS * 1000;
/** Buckets a grant stays counted for: 62 for the 60-s window. */
const HORIZON = horizonBuckets(RATE_LIMIT_WINDOW_SECONDS);
const HORIZON_MS = HORIZON * BUCKET_MS;

describe('per-organisation rate limits', () => {
  it('announce the policy and what is left on every authenticated response', async () => {
    const tenant = await createTenant();
    await tenant.setLimits({ read: 50 });
    const first = await tenant.api.GET('/v1/api-keys');
    expect(first.response.headers.get('RateLimit-Policy')).toBe('"read";q=50;w=60');
    const [, policy, remaining, reset] = RATE_LIMIT.exec(first.response.headers.get('RateLimit') ?? '') ?? [];
    expect(policy).toBe('read');
    expect(Number(remaining)).toBe(49);
    // The first grant's bucket leaves the 62-bucket horizon 61–62 s from now.
    expect(Number(reset)).toBe(HORIZON);
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
    expect(retryAfter).toBeLessThanOrEqual(HORIZON);
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

/** Tokens the subject's Durable Object has counted in its horizon (the probe itself takes one more). */
async function countedBy(subject: string, limit: number): Promise<number> {
  const probe = await limiter(subject).lease(limit, RATE_LIMIT_WINDOW_SECONDS, 1);
  return limit - probe.unleased - probe.granted;
}

/**
 * A simulated isolate: its own leases, reaching the real Durable Objects. It counts round trips and
 * tokens granted, and holds background prefetches until `settle()` (a round trip that takes as long
 * as the test lets it). `beforeNextAnswer` runs once, between the Durable Object's answer and the
 * isolate seeing it: a late answer.
 */
function simulatedIsolate() {
  const leases = new IsolateLeases();
  const pending: Promise<void>[] = [];
  const failures: unknown[] = [];
  const stats = { roundTrips: 0, granted: 0 };
  const hooks: { beforeNextAnswer?: () => void } = {};
  const channel: LeaseChannel = {
    async lease(subject, limit, wanted) {
      stats.roundTrips += 1;
      const grant = await limiter(subject).lease(limit, RATE_LIMIT_WINDOW_SECONDS, wanted);
      stats.granted += grant.granted;
      const late = hooks.beforeNextAnswer;
      hooks.beforeNextAnswer = undefined;
      late?.();
      return grant;
    },
    background(_subject, task) {
      pending.push(task.catch((error: unknown) => void failures.push(error)));
    },
  };
  return {
    stats,
    hooks,
    take: (subject: string, limit: number, leaseSize = ORGANIZATION_LEASE_SIZE): Promise<RateLimitDecision> =>
      leases.take(channel, subject, limit, leaseSize),
    async settle() {
      while (pending.length > 0) await pending.shift();
      expect(failures).toEqual([]);
    },
  };
}

/** How many of `times` fall in the buckets a Durable Object still counts at `now`. */
function inHorizonAt(times: readonly number[], now: number): number {
  return times.filter((at) => Math.floor(at / BUCKET_MS) > Math.floor(now / BUCKET_MS) - HORIZON).length;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** The most of `times` (ms, any order) that fall in one interval [a, a + 60 s), over every a. */
function busiestWindow(times: readonly number[]): number {
  const sorted = [...times].sort((left, right) => left - right);
  let most = 0;
  let end = 0;
  for (let start = 0; start < sorted.length; start += 1) {
    while (end < sorted.length && (sorted[end] ?? 0) < (sorted[start] ?? 0) + WINDOW_MS) end += 1;
    most = Math.max(most, end - start);
  }
  return most;
}

/** For the tests that simulate minutes: thousands of Durable Object calls take seconds of real time. */
const SIMULATION = { timeout: 60_000 };

/** A minute boundary well in the future, so no simulated time is ever before a real one. */
const MINUTE = Date.UTC(2031, 0, 1, 0, 1, 0);

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

  it('count every admitted request at the Durable Object, leasing ahead of a busy isolate only what it spends', async () => {
    const tenant = await createTenant();
    const limit = 1_000_000;
    await tenant.setLimits({ read: limit });
    const requests = 100;
    for (let index = 0; index < requests; index += 1) expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    // Leases follow demand (about what was spent in the last second), so what is held ahead is of
    // the order of what these requests spent: less in all than one lease of ORGANIZATION_LEASE_SIZE.
    const counted = await countedBy(`org:${tenant.orgId}:read`, limit);
    expect(counted).toBeGreaterThanOrEqual(requests);
    expect(counted).toBeLessThan(ORGANIZATION_LEASE_SIZE);
  });
});

describe('sliding window (simulated clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuse right after a 60-s boundary a client that spent the whole limit just before it', async () => {
    const stub = limiter(`test:${crypto.randomUUID()}`);
    const limit = 600;
    const before = MINUTE - 300;
    vi.setSystemTime(before);
    const grants: RateLimitGrant[] = [];
    for (let grant = await stub.lease(limit, 60, 500); grant.granted > 0; grant = await stub.lease(limit, 60, 500)) grants.push(grant);
    expect(grants.reduce((sum, grant) => sum + grant.granted, 0)).toBe(limit);
    // A fixed window would start afresh here and grant another 600.
    vi.setSystemTime(MINUTE + 200);
    const after = await stub.lease(limit, 60, 500);
    expect(after).toMatchObject({ granted: 0, unleased: 0 });
    // The tokens granted before the boundary may be spent only until the end of the next bucket.
    const expiresInMs = Math.floor(before / BUCKET_MS + 2) * BUCKET_MS - CLOCK_MARGIN_MS - before;
    for (const grant of grants) expect(grant.expiresInMs).toBe(expiresInMs);
    // Capacity frees up when the bucket of `before` leaves the 62-bucket horizon, and not earlier.
    const frees = Math.floor(before / BUCKET_MS) * BUCKET_MS + HORIZON_MS;
    expect(after.freesInMs).toBe(frees - (MINUTE + 200));
    vi.setSystemTime(frees - 1);
    expect((await stub.lease(limit, 60, 500)).granted).toBe(0);
    vi.setSystemTime(frees);
    expect((await stub.lease(limit, 60, 500)).granted).toBe(Math.floor(limit / 10));
  });

  it('refuse requests right after a 60-s boundary through the middleware, with Retry-After until capacity frees up', async () => {
    const tenant = await createTenant();
    const limit = 10;
    await tenant.setLimits({ read: limit });
    vi.setSystemTime(MINUTE - 1000);
    for (let index = 0; index < limit; index += 1) expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    vi.setSystemTime(MINUTE + 500);
    const refused = await tenant.api.GET('/v1/api-keys');
    await expectProblem(refused, 429, 'rate_limited');
    // The grants' bucket (MINUTE − 1 s) leaves the horizon at MINUTE + 61 s: 60.5 s from now.
    expect(refused.response.headers.get('Retry-After')).toBe('61');
    expect(refused.response.headers.get('RateLimit')).toBe('"read";r=0;t=61');
    vi.setSystemTime(MINUTE + 60_999);
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(429);
    vi.setSystemTime(MINUTE + 61_000);
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
  });

  it('never grant more than the limit to spend in any 60-s interval, whatever the grant pattern (randomised)', SIMULATION, async () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const subject = `test:${crypto.randomUUID()}`;
      const limit = [5, 60, 600][seed - 1] ?? 60;
      const grants: { at: number; granted: number; expiresAt: number }[] = [];
      let now = MINUTE - 10_000;
      for (let call = 0; call < 800; call += 1) {
        const step = next();
        if (step < 0.4) now += 0;
        else if (step < 0.7) now += Math.floor(next() * 50);
        else if (step < 0.9) now += Math.floor(next() * 1500);
        else if (step < 0.95) now = Math.ceil((now + 1) / WINDOW_MS) * WINDOW_MS - Math.floor(next() * 400);
        else now += 5000 + Math.floor(next() * 20_000);
        vi.setSystemTime(now);
        const grant: RateLimitGrant = await limiter(subject).lease(limit, 60, 1 + Math.floor(next() * limit));
        expect(grant.expiresInMs).toBeGreaterThan(BUCKET_MS - CLOCK_MARGIN_MS);
        expect(grant.expiresInMs).toBeLessThanOrEqual(2 * BUCKET_MS - CLOCK_MARGIN_MS);
        if (grant.granted > 0) grants.push({ at: now, granted: grant.granted, expiresAt: now + grant.expiresInMs });
      }
      // Worst case: every token spent at whichever instant of its lease [at, expiresAt) suits a window.
      // The busiest window [a, a + 60 s) ends just after some grant: a = at − 60 s + 1 ms.
      let busiest = 0;
      for (const last of grants) {
        const start = last.at - WINDOW_MS + 1;
        let spendable = 0;
        for (const grant of grants) if (grant.at <= last.at && grant.expiresAt > start) spendable += grant.granted;
        busiest = Math.max(busiest, spendable);
      }
      expect(busiest, `seed ${seed}`).toBeLessThanOrEqual(limit);
      // The pattern did push against the limit.
      expect(busiest, `seed ${seed}`).toBeGreaterThanOrEqual(limit * 0.9);
    }
  });

  it(
    'never admit more than the limit in any 60-s interval across isolates, with slow and out-of-order answers (randomised)',
    SIMULATION,
    async () => {
      for (const seed of [11, 12]) {
        const next = random(seed);
        const subject = `test:${crypto.randomUUID()}`;
        const limit = 200;
        const isolates = [simulatedIsolate(), simulatedIsolate(), simulatedIsolate()];
        const admitted: number[] = [];
        let refused = 0;
        let now = MINUTE - 30_000;
        for (let event = 0; event < 400; event += 1) {
          const step = next();
          if (step < 0.5) now += Math.floor(next() * 20);
          else if (step < 0.85) now += Math.floor(next() * 1200);
          else if (step < 0.93) now = Math.ceil((now + 1) / WINDOW_MS) * WINDOW_MS - Math.floor(next() * 500);
          else now += 3000 + Math.floor(next() * 30_000);
          vi.setSystemTime(now);
          const isolate = isolates[Math.floor(next() * isolates.length)] ?? isolates[0];
          if (!isolate) throw new Error('no isolate');
          const burst = 1 + Math.floor(next() * 30);
          for (let request = 0; request < burst; request += 1) {
            const decision = await isolate.take(subject, limit);
            if (decision.allowed) admitted.push(Date.now());
            else refused += 1;
          }
          // Prefetches come back now, or only after the clock has moved on: a slow round trip.
          if (next() < 0.7) await isolate.settle();
        }
        for (const isolate of isolates) await isolate.settle();
        expect(busiestWindow(admitted), `seed ${seed}`).toBeLessThanOrEqual(limit);
        expect(refused, `seed ${seed}`).toBeGreaterThan(0);
        // The pattern did push against the limit.
        expect(busiestWindow(admitted), `seed ${seed}`).toBeGreaterThanOrEqual(limit * 0.9);
      }
    },
  );

  it('never spend a lease at or past its expiry', async () => {
    const limit = 1_000_000;
    const start = MINUTE + 100;
    // The isolate counts a lease from when it asked: granted at `start`, it ends at the end of the
    // next bucket, less the clock margin.
    const expiry = Math.floor(start / BUCKET_MS + 2) * BUCKET_MS - CLOCK_MARGIN_MS;
    for (const [at, expired] of [
      [expiry - 1, false],
      [expiry, true],
    ] as const) {
      const subject = `test:${crypto.randomUUID()}`;
      const isolate = simulatedIsolate();
      vi.setSystemTime(start);
      expect(await isolate.take(subject, limit)).toMatchObject({ allowed: true, waited: true });
      // Demand is now one a second: this lease is two tokens, one for this request, one held.
      expect(await isolate.take(subject, limit)).toMatchObject({ allowed: true, waited: true });
      await isolate.settle();
      expect(isolate.stats).toEqual({ roundTrips: 2, granted: 3 });
      vi.setSystemTime(at);
      const decision = await isolate.take(subject, limit);
      expect(decision.allowed).toBe(true);
      // At its expiry the held token is void: the request leases a fresh one.
      expect(decision.waited, `at expiry ${at - expiry} ms`).toBe(expired);
      await isolate.settle();
      expect(await countedBy(subject, limit)).toBe(isolate.stats.granted);
    }
  });

  it('count a lease from when it was asked for, however late the answer comes', async () => {
    const limit = 1_000_000;
    const second = MINUTE + 1000;
    // Asked for (in the background) at `second + 100`: the lease ends with the next bucket.
    const expiry = second + 2 * BUCKET_MS - CLOCK_MARGIN_MS;
    for (const [at, expired] of [
      [expiry - 1, false],
      [expiry, true],
    ] as const) {
      const subject = `test:${crypto.randomUUID()}`;
      const isolate = simulatedIsolate();
      vi.setSystemTime(MINUTE + 100);
      await isolate.take(subject, limit);
      await isolate.take(subject, limit);
      // Spends the token held; demand (two a second) has it lease the next two in the background,
      // and that answer reaches the isolate only 1.4 s later.
      vi.setSystemTime(second + 100);
      isolate.hooks.beforeNextAnswer = () => vi.setSystemTime(second + 1500);
      expect(await isolate.take(subject, limit)).toMatchObject({ allowed: true, waited: false });
      await isolate.settle();
      expect(isolate.stats).toEqual({ roundTrips: 3, granted: 5 });
      vi.setSystemTime(at);
      expect((await isolate.take(subject, limit)).waited, `at expiry ${at - expiry} ms`).toBe(expired);
    }
  });

  it('through the middleware, lease afresh once the lease held has expired', async () => {
    const tenant = await createTenant();
    const limit = 1_000_000;
    await tenant.setLimits({ read: limit });
    const subject = `org:${tenant.orgId}:read`;
    vi.setSystemTime(MINUTE + 100);
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    // One token of the second lease is held, unspent.
    expect(await countedBy(subject, limit)).toBe(3);
    vi.setSystemTime(MINUTE + 5000);
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    // Spending the held token would have left the count alone; it had expired, so a new lease was taken.
    expect(await countedBy(subject, limit)).toBe(3 + 1 + 1);
  });

  it.each([
    { limit: 20, everyMs: 3000 },
    { limit: 60, everyMs: 1000 },
  ])(
    'let a slow steady client use its whole limit over time: $limit a minute, one request every $everyMs ms',
    SIMULATION,
    async ({ limit, everyMs }) => {
      const tenant = await createTenant();
      await tenant.setLimits({ read: limit });
      const minutes = 10;
      const admitted: number[] = [];
      const start = MINUTE + 123;
      for (let at = start; at < start + minutes * WINDOW_MS; at += everyMs) {
        vi.setSystemTime(at);
        const { response } = await tenant.api.GET('/v1/api-keys');
        expect([200, 429]).toContain(response.status);
        if (response.status === 200) admitted.push(at);
      }
      expect(busiestWindow(admitted)).toBeLessThanOrEqual(limit);
      // The whole limit per 62-s horizon (limit × 60/62 a minute), give or take the cadence: once
      // capacity frees up, the next request comes at most `everyMs` later.
      expect(admitted.length).toBeGreaterThanOrEqual(Math.floor((limit * minutes * WINDOW_MS) / (HORIZON_MS + everyMs)));
      // No token was leased and lost: the Durable Object counts exactly the requests of its horizon.
      const last = start + minutes * WINDOW_MS;
      vi.setSystemTime(last);
      expect(await countedBy(`org:${tenant.orgId}:read`, limit)).toBe(inHorizonAt(admitted, last));
    },
  );

  it('never refuse a client far under its limit, however slowly it asks (no lease is wasted into a lockout)', SIMULATION, async () => {
    // The free plan's read limit; a lease of a tenth of it per request would strand 59 tokens a time.
    const tenant = await createTenant({ plan: 'free' });
    const last = MINUTE + 10 * WINDOW_MS;
    const sent: number[] = [];
    for (let at = MINUTE; at < last; at += 3000) {
      vi.setSystemTime(at);
      const { response } = await tenant.api.GET('/v1/api-keys');
      expect(response.status).toBe(200);
      expect(response.headers.get('RateLimit-Policy')).toBe('"read";q=600;w=60');
      sent.push(at);
    }
    // One token leased per request, none lost: the horizon counts the requests of its 62 buckets.
    vi.setSystemTime(last);
    expect(await countedBy(`org:${tenant.orgId}:read`, 600)).toBe(inHorizonAt(sent, last));
  });

  it('keep a busy isolate off the round trip: leases grow with demand and the next comes in the background', SIMULATION, async () => {
    const subject = `test:${crypto.randomUUID()}`;
    const limit = 1_000_000_000;
    const isolate = simulatedIsolate();
    const requests = 5000;
    let waited = 0;
    // 1,000 requests a second for 5 s; each prefetch answers within the millisecond.
    for (let index = 0; index < requests; index += 1) {
      vi.setSystemTime(MINUTE + index);
      const decision = await isolate.take(subject, limit);
      expect(decision.allowed).toBe(true);
      if (decision.waited) waited += 1;
      await isolate.settle();
    }
    // Only the first requests, before demand is known, wait for a lease.
    expect(waited).toBeLessThanOrEqual(3);
    // At least 100 requests per round trip on average: leases reach ORGANIZATION_LEASE_SIZE.
    expect(isolate.stats.roundTrips).toBeLessThanOrEqual(requests / 100);
    // What is leased and not spent is at most what is held at the end.
    expect(isolate.stats.granted - requests).toBeLessThanOrEqual(2 * ORGANIZATION_LEASE_SIZE);
  });

  it('keep a moderately busy isolate mostly off the round trip, wasting few tokens', SIMULATION, async () => {
    const subject = `test:${crypto.randomUUID()}`;
    const limit = 1_000_000_000;
    const isolate = simulatedIsolate();
    const next = random(7);
    let waited = 0;
    let requests = 0;
    // About 20 requests a second, at irregular intervals, for two minutes.
    for (let at = MINUTE + 17; at < MINUTE + 2 * WINDOW_MS; at += 1 + Math.floor(next() * 99)) {
      vi.setSystemTime(at);
      const decision = await isolate.take(subject, limit);
      requests += 1;
      if (decision.waited) waited += 1;
      await isolate.settle();
    }
    expect(waited / requests).toBeLessThan(0.01);
    // About one lease a second, and few tokens expire unspent.
    expect(isolate.stats.roundTrips).toBeLessThanOrEqual(requests / 10);
    expect((isolate.stats.granted - requests) / requests).toBeLessThan(0.1);
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

  it('never counts a request that presents no credential: it guesses nothing, so it always gets the 401', async () => {
    const overrides = { AUTH_FAILURE_LIMIT: '3' };
    const ip = '203.0.113.8';
    const anonymous = () => callWorker('/v1/api-keys', { headers: { 'CF-Connecting-IP': ip } }, overrides);
    const guess = () => callWorker('/v1/api-keys', { headers: { Authorization: 'Bearer guess', 'CF-Connecting-IP': ip } }, overrides);
    const inQuery = () => callWorker('/v1/api-keys?api_key=guess', { headers: { 'CF-Connecting-IP': ip } }, overrides);
    for (let index = 0; index < 5; index += 1) {
      const response = await anonymous();
      expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="switchyard"');
      await expectProblem(response, 401, 'unauthorized');
    }
    // The anonymous requests left the whole allowance: a key in the query string and wrong keys count.
    const statuses = [(await inQuery()).status];
    for (let index = 0; index < 3; index += 1) statuses.push((await guess()).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    await expectProblem(await anonymous(), 401, 'unauthorized');
  });
});
