/**
 * @module
 * Per-organisation rate limits by route class, announced with the IETF httpapi draft headers
 * (draft-ietf-httpapi-ratelimit-headers):
 *   RateLimit-Policy: "write";q=120;w=60
 *   RateLimit: "write";r=119;t=42
 * Over the limit: 429 `rate_limited` with `Retry-After`.
 *
 * The limit holds in every 60-second interval, not only in windows aligned to the clock: the
 * RateLimiter Durable Object counts grants in 1-second buckets over a 62-second horizon, and every
 * lease expires at most 2 s after it was granted (durable-objects/rate-limiter.ts states the bound
 * and proves it). The cost: a client that keeps asking gets the limit per ~62 s, about 3 % under the
 * nominal rate, and `t=` / `Retry-After` can say up to 62 s.
 *
 * Leases. A round trip to the Durable Object on every request cost more than the rest of the
 * middleware chain together (bench/README.md), so each isolate leases tokens and spends them
 * locally: a lease is only ever tokens the Durable Object has counted, and this isolate never spends
 * one after the lease's expiry by its own clock, counted from when it sent the request. Expired
 * tokens are lost (they stay counted for the horizon), so leases are sized by demand: one more than
 * this isolate spent in the last second, at most `leaseSize` (and the Durable Object grants at most
 * a tenth of what is left). A slow client thus leases one token per request, a round trip each,
 * cheap at that rate, and wastes nothing; a busy isolate's leases grow, and it fetches the next in
 * the background before the tokens it holds run out or expire, so its requests rarely wait. At
 * moderate rates some tokens of a lease can expire unspent, which only matters far from the limit:
 * near it, leases shrink to single tokens and nothing is fetched ahead.
 *
 * `r=` is what this isolate knows is left: exact with one isolate, an upper bound with several.
 * `t=` is the seconds until the Durable Object's oldest counted bucket leaves the horizon, freeing
 * more capacity (at least 1).
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import type { RateLimiter, RateLimitGrant } from '../durable-objects/rate-limiter.ts';
import { ApiError } from '../errors.ts';
import { setBounded } from '../lib/bounded-map.ts';
import { breakerFor, CircuitOpenError, type CircuitState, guardedCall, isRetryableObjectError } from '../lib/resilience.ts';

export type RateLimitClass = 'read' | 'write' | 'token';

export const RATE_LIMIT_WINDOW_SECONDS = 60;

/**
 * The most tokens an organisation's class asks for per lease (it asks for fewer when it spends
 * fewer): one round trip per this many requests at most, for a busy isolate. Large enough that the
 * next lease, fetched once half is spent, comes back before the rest is: a saturated isolate answers
 * a round trip only after the ~50–100 ms of work queued ahead of it, and with leases of 100 requests
 * then waited for their own (the benchmark's p99, bench/README.md).
 */
export const ORGANIZATION_LEASE_SIZE = 500;
/** Subjects whose leases an isolate keeps; past it, idle ones are dropped, then the oldest. */
const MAX_LEASED_SUBJECTS = 10_000;
/** Demand is what an isolate spent in the current or the previous period of this length. */
const DEMAND_PERIOD_MS = 1000;
/** Below this demand no lease is fetched ahead: a token leased ahead would likely expire unspent. */
const PREFETCH_MIN_DEMAND = 2;
/** The next lease is fetched once the tokens held would last less than this at the current demand, or expire within it. */
const PREFETCH_LEAD_MS = 250;
/** Round trips one request makes before it is refused (only an answer slower than a lease's life gets here). */
const MAX_LEASE_ATTEMPTS = 3;

/** Unspent tokens of one lease; void from `expiresAt` on (this isolate's clock). */
interface HeldLease {
  tokens: number;
  expiresAt: number;
}

interface SubjectLeases {
  limit: number;
  /** The leases held, soonest expiry first; spent in that order. */
  held: HeldLease[];
  /** Tokens the Durable Object had left to lease at the latest answer. */
  unleased: number;
  /** When (this isolate's clock) the Durable Object frees more capacity, as of the latest answer. */
  freesAt: number;
  /** When the request behind the latest answer was sent: answers may arrive out of order. */
  answerSentAt: number;
  /** Whether the latest answer granted all that was asked: the limit is still far off, so leasing ahead is safe. */
  plentiful: boolean;
  /** The demand period `spentThisPeriod` counts, and what was spent in it and the one before. */
  period: number;
  spentThisPeriod: number;
  spentLastPeriod: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** What is left, as far as this isolate knows. */
  remaining: number;
  /** Seconds until more capacity frees up (at least 1). */
  resetSeconds: number;
  /** Whether this request waited for a round trip to the Durable Object. */
  waited: boolean;
}

/** How an isolate reaches subjects' Durable Objects and keeps background work alive past a response. */
export interface LeaseChannel {
  lease(subject: string, limit: number, wanted: number): Promise<RateLimitGrant>;
  /** Keeps a prefetch of `subject`'s next lease running after the response (`waitUntil`); handles its rejection. */
  background(subject: string, task: Promise<void>): void;
}

function usableAfter(state: SubjectLeases, time: number): number {
  let tokens = 0;
  for (const lease of state.held) if (lease.expiresAt > time) tokens += lease.tokens;
  return tokens;
}

function demandOf(state: SubjectLeases): number {
  return Math.max(state.spentThisPeriod, state.spentLastPeriod);
}

/** Drops expired leases and moves the demand periods on to `now`. */
function age(state: SubjectLeases, now: number): void {
  while (state.held[0] !== undefined && state.held[0].expiresAt <= now) state.held.shift();
  const period = Math.floor(now / DEMAND_PERIOD_MS);
  if (period === state.period) return;
  state.spentLastPeriod = period === state.period + 1 ? state.spentThisPeriod : 0;
  state.spentThisPeriod = 0;
  state.period = period;
}

/** Spends the held token that expires first, if any is still valid at `now`. */
function spend(state: SubjectLeases, now: number): boolean {
  age(state, now);
  const lease = state.held[0];
  if (lease === undefined) return false;
  lease.tokens -= 1;
  if (lease.tokens === 0) state.held.shift();
  state.spentThisPeriod += 1;
  return true;
}

function decide(state: SubjectLeases, now: number, allowed: boolean, waited: boolean): RateLimitDecision {
  const remaining = state.unleased + usableAfter(state, now);
  const resetSeconds = Math.max(1, Math.ceil((state.freesAt - now) / 1000));
  return { allowed, remaining, resetSeconds, waited };
}

/**
 * One isolate's leases, per subject. The middleware uses one per isolate; tests make several to
 * play several isolates. Its clock is `Date.now()`. No request ever awaits another request's round
 * trip: a promise shared across requests hangs when the request that started it is cancelled.
 */
export class IsolateLeases {
  private readonly subjects = new Map<string, SubjectLeases>();
  /** Subjects whose next lease is being fetched ahead of need. */
  private readonly prefetching = new Set<string>();

  /** Spends one token of `subject`'s limit, leasing more when this isolate holds none. */
  async take(channel: LeaseChannel, subject: string, limit: number, leaseSize: number): Promise<RateLimitDecision> {
    let waited = false;
    for (let attempt = 0; attempt < MAX_LEASE_ATTEMPTS; attempt += 1) {
      const sentAt = Date.now();
      const state = this.stateFor(subject, limit, sentAt);
      if (spend(state, sentAt)) {
        this.prefetch(channel, subject, state, leaseSize, sentAt);
        return decide(state, sentAt, true, waited);
      }
      // Nothing frees up before `freesAt` (only buckets leaving the horizon free capacity): no need to ask.
      if (state.unleased === 0 && sentAt < state.freesAt) return decide(state, sentAt, false, waited);
      const wanted = Math.min(leaseSize, demandOf(state) + 1);
      waited = true;
      const grant = await channel.lease(subject, limit, wanted);
      const now = Date.now();
      const answered = this.record(subject, limit, grant, wanted, sentAt, now);
      if (spend(answered, now)) {
        this.prefetch(channel, subject, answered, leaseSize, now);
        return decide(answered, now, true, waited);
      }
      if (grant.granted === 0) return decide(answered, now, false, waited);
      // The answer came after its lease expired, so its tokens are void: ask again.
    }
    const now = Date.now();
    return decide(this.stateFor(subject, limit, now), now, false, waited);
  }

  private stateFor(subject: string, limit: number, now: number): SubjectLeases {
    let state = this.subjects.get(subject);
    // A changed limit drops what is held: it was leased against the old one.
    if (state === undefined || state.limit !== limit) {
      if (state === undefined) this.makeRoom(now);
      state = {
        limit,
        held: [],
        unleased: limit,
        freesAt: now,
        answerSentAt: Number.NEGATIVE_INFINITY,
        plentiful: false,
        period: Math.floor(now / DEMAND_PERIOD_MS),
        spentThisPeriod: 0,
        spentLastPeriod: 0,
      };
      this.subjects.set(subject, state);
    }
    age(state, now);
    return state;
  }

  private makeRoom(now: number): void {
    if (this.subjects.size < MAX_LEASED_SUBJECTS) return;
    for (const [subject, state] of this.subjects) {
      const refusing = state.unleased === 0 && now < state.freesAt;
      if (!refusing && usableAfter(state, now) === 0) this.subjects.delete(subject);
    }
    for (const subject of this.subjects.keys()) {
      if (this.subjects.size < MAX_LEASED_SUBJECTS) break;
      this.subjects.delete(subject);
    }
  }

  /** Adds a grant to the subject's leases; the latest-sent answer says what the Durable Object has left. */
  private record(subject: string, limit: number, grant: RateLimitGrant, wanted: number, sentAt: number, now: number): SubjectLeases {
    const state = this.stateFor(subject, limit, now);
    const expiresAt = sentAt + grant.expiresInMs;
    if (grant.granted > 0 && expiresAt > now) {
      const at = state.held.findIndex((lease) => lease.expiresAt >= expiresAt);
      const same = at === -1 ? undefined : state.held[at];
      if (same !== undefined && same.expiresAt === expiresAt) same.tokens += grant.granted;
      else state.held.splice(at === -1 ? state.held.length : at, 0, { tokens: grant.granted, expiresAt });
    }
    // Sent at the same instant: the one that left less was answered later.
    if (sentAt > state.answerSentAt || (sentAt === state.answerSentAt && grant.unleased < state.unleased)) {
      state.answerSentAt = sentAt;
      state.unleased = grant.unleased;
      state.freesAt = now + grant.freesInMs;
      state.plentiful = grant.granted >= wanted;
    }
    return state;
  }

  /**
   * Fetches the next lease in the background when the tokens held would soon run out or expire at
   * the current demand; only while whole leases are granted, so near the limit no tokens are held ahead.
   */
  private prefetch(channel: LeaseChannel, subject: string, state: SubjectLeases, leaseSize: number, now: number): void {
    if (leaseSize <= 1 || !state.plentiful || this.prefetching.has(subject)) return;
    const demand = demandOf(state);
    if (demand < PREFETCH_MIN_DEMAND) return;
    const needed = Math.min(leaseSize / 2, (demand * PREFETCH_LEAD_MS) / DEMAND_PERIOD_MS);
    if (usableAfter(state, now + PREFETCH_LEAD_MS) >= needed) return;
    this.prefetching.add(subject);
    const wanted = Math.min(leaseSize, demand);
    const limit = state.limit;
    const refill = async () => {
      const sentAt = Date.now();
      const grant = await channel.lease(subject, limit, wanted);
      // Leased against a limit that has changed since, or for a subject dropped meanwhile: let it go.
      if (this.subjects.get(subject)?.limit === limit) this.record(subject, limit, grant, wanted, sentAt, Date.now());
    };
    channel.background(
      subject,
      refill().finally(() => this.prefetching.delete(subject)),
    );
  }
}

const isolateLeases = new IsolateLeases();

/** One lease round trip's deadline: the RateLimiter answers from memory, so half a second means it is stuck. */
export const LEASE_TIMEOUT_MS = 500;
export const RATE_LIMITER_BREAKER = { failureThreshold: 5, openMs: 5_000 } as const;
/**
 * While the RateLimiter cannot be reached, each isolate serves this share of a limit per window on
 * its own: never unlimited, and small enough that a few isolates together stay near the real limit.
 */
export const DEGRADED_SHARE = 0.1;

function rateLimitersOf(c: Context<AppEnv>): DurableObjectNamespace<RateLimiter> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  return c.get('config').rateLimiter as unknown as DurableObjectNamespace<RateLimiter>;
}

function rateLimiterBreaker(namespace: DurableObjectNamespace<RateLimiter>) {
  return breakerFor(namespace, 'RateLimiter', RATE_LIMITER_BREAKER);
}

/**
 * For `/ready`: this isolate's breaker state, and a call that reaches a RateLimiter without
 * counting anything. The probe is not counted by the breaker: only requests' leases decide it.
 */
export function rateLimiterReadiness(c: Context<AppEnv>, probeName: string): { circuit: CircuitState; ping: () => Promise<unknown> } {
  const namespace = rateLimitersOf(c);
  return { circuit: rateLimiterBreaker(namespace).state(), ping: () => namespace.get(namespace.idFromName(probeName)).ping() };
}

function channelFor(c: Context<AppEnv>): LeaseChannel {
  const namespace = rateLimitersOf(c);
  const breaker = rateLimiterBreaker(namespace);
  return {
    // A fresh stub per attempt: a stub that threw may be broken.
    lease: (subject, limit, wanted) =>
      guardedCall(() => namespace.get(namespace.idFromName(subject)).lease(limit, RATE_LIMIT_WINDOW_SECONDS, wanted), {
        label: 'RateLimiter',
        timeoutMs: LEASE_TIMEOUT_MS,
        budgetMs: 2 * LEASE_TIMEOUT_MS,
        retry: { attempts: 2, baseDelayMs: 20, maxDelayMs: 100 },
        // Repeating a lease whose reply was lost leases twice: that strands tokens, never admits more than the limit.
        isTransient: isRetryableObjectError,
        // The RateLimiter never throws by design: any error is it failing to answer.
        isFailure: () => true,
        breaker,
        telemetry: c.get('telemetry'),
      }),
    background: (subject, task) =>
      c.executionCtx.waitUntil(
        task.catch((error: unknown) => c.get('logger').warn('could not prefetch a rate-limit lease', { subject, error })),
      ),
  };
}

interface LocalWindow {
  startedAt: number;
  spent: number;
}

// What each subject has spent of its degraded allowance in this isolate, per fixed window.
const degradedWindows = new Map<string, LocalWindow>();

/** The decision while the RateLimiter is unreachable: this isolate's share of the limit, counted here. */
function takeDegraded(subject: string, allowance: number, now: number): RateLimitDecision {
  const windowMs = RATE_LIMIT_WINDOW_SECONDS * 1000;
  let window = degradedWindows.get(subject);
  if (window === undefined || now - window.startedAt >= windowMs) {
    window = { startedAt: now, spent: 0 };
    setBounded(degradedWindows, subject, window, MAX_LEASED_SUBJECTS);
  }
  const allowed = window.spent < allowance;
  if (allowed) window.spent += 1;
  const resetSeconds = Math.max(1, Math.ceil((window.startedAt + windowMs - now) / 1000));
  return { allowed, remaining: allowance - window.spent, resetSeconds, waited: true };
}

/**
 * Counts one request for `subject`; sets the RateLimit headers; throws 429 when over the limit.
 * When the RateLimiter cannot be reached (its calls fail or time out, or its circuit is open), the
 * request is counted against a reduced local allowance instead, and the headers name that policy
 * (`<policy>-degraded`) and its quota, so they stay true.
 */
export async function enforceRateLimit(
  c: Context<AppEnv>,
  subject: string,
  policy: string,
  limit: number,
  leaseSize: number,
): Promise<RateLimitDecision> {
  let decision: RateLimitDecision;
  let quota = limit;
  let name = policy;
  try {
    decision = await isolateLeases.take(channelFor(c), subject, limit, leaseSize);
  } catch (error) {
    quota = Math.max(1, Math.floor(limit * DEGRADED_SHARE));
    name = `${policy}-degraded`;
    // Once per failed call; while the circuit is open no call is made, and the transition was logged.
    if (!(error instanceof CircuitOpenError)) c.get('logger').warn('rate limiter unreachable: reduced local allowance', { subject, error });
    decision = takeDegraded(subject, quota, Date.now());
  }
  c.header('RateLimit-Policy', `"${name}";q=${quota};w=${RATE_LIMIT_WINDOW_SECONDS}`);
  c.header('RateLimit', `"${name}";r=${decision.remaining};t=${decision.resetSeconds}`);
  if (!decision.allowed) {
    throw new ApiError('rate_limited', {
      detail: `The ${name} limit of ${quota} requests per ${RATE_LIMIT_WINDOW_SECONDS} s is used up; retry after ${decision.resetSeconds} s.`,
      headers: { 'Retry-After': String(decision.resetSeconds) },
      security: { reason: name, details: { quota } },
    });
  }
  return decision;
}

/**
 * @example
 * ```ts
 * createRoute({ ..., middleware: [authenticate(), rateLimit('write')] })  // defineRoute does this from `rateLimit: 'write'`
 * ```
 */
export function rateLimit(kind: RateLimitClass): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const auth = c.get('auth');
    await enforceRateLimit(c, `org:${auth.orgId}:${kind}`, kind, auth.limits[kind], ORGANIZATION_LEASE_SIZE);
    await next();
  };
}
