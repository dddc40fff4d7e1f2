/**
 * @module
 * Per-organisation rate limits by route class, announced with the IETF httpapi draft headers
 * (draft-ietf-httpapi-ratelimit-headers):
 *   RateLimit-Policy: "write";q=120;w=60
 *   RateLimit: "write";r=119;t=42
 * Over the limit: 429 `rate_limited` with `Retry-After`.
 *
 * The RateLimiter Durable Object owns each subject's count, but a round trip to it on every
 * request cost more than the rest of the middleware chain together (bench/README.md). So each
 * isolate leases tokens from it and spends them locally: a lease is only ever tokens the Durable
 * Object has counted, so all isolates together never admit more than the limit. The price is
 * that a window can end with tokens unspent in an idle isolate's lease (the Durable Object keeps
 * leases to a tenth of what is left, so that stays small), and that `r=` counts what this isolate
 * knows is left: exact with one isolate, an upper bound with several.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import type { RateLimiter, RateLimitGrant } from '../durable-objects/rate-limiter.ts';
import { ApiError } from '../errors.ts';

export type RateLimitClass = 'read' | 'write' | 'token';

export const RATE_LIMIT_WINDOW_SECONDS = 60;
const WINDOW_MS = RATE_LIMIT_WINDOW_SECONDS * 1000;

/**
 * Tokens an organisation's class asks for per lease: one round trip per this many requests at most.
 * Large enough that the next lease, fetched once half is spent, comes back before the rest is: a
 * saturated isolate answers a round trip only after the ~50–100 ms of work queued ahead of it, and
 * with leases of 100 requests then waited for their own (the benchmark's p99, bench/README.md).
 */
export const ORGANIZATION_LEASE_SIZE = 500;
/** Subjects whose leases an isolate keeps; past it, ended windows are dropped, then the oldest. */
const MAX_LEASED_SUBJECTS = 10_000;
/** Lease attempts per request before it is decided on the last answer (only a clock step gets here). */
const MAX_LEASE_ATTEMPTS = 3;

interface Lease {
  limit: number;
  windowStart: number;
  /** Tokens this isolate holds and has not spent. */
  tokens: number;
  /** Tokens the Durable Object had not leased to anyone at the last grant. */
  unleased: number;
  /** Whether the last grant was a whole lease: the limit is still far off, so leasing ahead is safe. */
  plentiful: boolean;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** What is left in this window, as far as this isolate knows. */
  remaining: number;
  /** Seconds until the window resets (at least 1). */
  resetSeconds: number;
}

// Per isolate: each subject's current lease, and the subjects whose next lease is being fetched
// ahead of need. No request ever awaits another request's round trip: a promise shared across
// requests hangs when the request that started it is cancelled.
const leases = new Map<string, Lease>();
const prefetching = new Set<string>();

function limiterFor(c: Context<AppEnv>, subject: string) {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  const namespace = c.get('config').rateLimiter as unknown as DurableObjectNamespace<RateLimiter>;
  return namespace.get(namespace.idFromName(subject));
}

function makeRoom(): void {
  if (leases.size < MAX_LEASED_SUBJECTS) return;
  const now = Date.now();
  for (const [subject, lease] of leases) if (lease.windowStart + WINDOW_MS <= now) leases.delete(subject);
  for (const subject of leases.keys()) {
    if (leases.size < MAX_LEASED_SUBJECTS) break;
    leases.delete(subject);
  }
}

/** Adds a grant to the isolate's lease; grants may arrive out of order, and `unleased` only falls within a window. */
function remember(subject: string, limit: number, grant: RateLimitGrant, plentiful: boolean): void {
  const held = leases.get(subject);
  if (held && held.limit === limit && held.windowStart === grant.windowStart) {
    held.tokens += grant.granted;
    held.unleased = Math.min(held.unleased, grant.unleased);
    held.plentiful = plentiful;
    return;
  }
  if (!held) makeRoom();
  leases.set(subject, { limit, windowStart: grant.windowStart, tokens: grant.granted, unleased: grant.unleased, plentiful });
}

async function refill(c: Context<AppEnv>, subject: string, limit: number, leaseSize: number): Promise<void> {
  const grant = await limiterFor(c, subject).lease(limit, RATE_LIMIT_WINDOW_SECONDS, leaseSize);
  remember(subject, limit, grant, grant.granted >= leaseSize);
}

/**
 * Fetches the next lease in the background once half of one is left, so requests rarely wait
 * for a round trip; only while whole leases are granted, so near the limit no tokens are held ahead.
 */
function prefetch(c: Context<AppEnv>, subject: string, lease: Lease, leaseSize: number): void {
  if (leaseSize === 1 || !lease.plentiful || lease.tokens >= leaseSize / 2 || prefetching.has(subject)) return;
  prefetching.add(subject);
  c.executionCtx.waitUntil(
    refill(c, subject, lease.limit, leaseSize)
      .catch((error: unknown) => c.get('logger').warn('could not prefetch a rate-limit lease', { subject, error }))
      .finally(() => prefetching.delete(subject)),
  );
}

/** Spends one token of `subject`'s window, leasing more when this isolate holds none. */
async function takeToken(c: Context<AppEnv>, subject: string, limit: number, leaseSize: number): Promise<RateLimitDecision> {
  for (let attempt = 0; ; attempt += 1) {
    const now = Date.now();
    const lease = leases.get(subject);
    const current = lease !== undefined && lease.limit === limit && now < lease.windowStart + WINDOW_MS;
    if (lease !== undefined && (current || attempt >= MAX_LEASE_ATTEMPTS)) {
      const resetSeconds = Math.max(1, Math.ceil((lease.windowStart + WINDOW_MS - now) / 1000));
      if (lease.tokens > 0) {
        lease.tokens -= 1;
        prefetch(c, subject, lease, leaseSize);
        return { allowed: true, remaining: lease.unleased + lease.tokens, resetSeconds };
      }
      if (lease.unleased === 0) return { allowed: false, remaining: 0, resetSeconds };
    }
    await refill(c, subject, limit, leaseSize);
  }
}

/** Counts one request for `subject`; sets the RateLimit headers; throws 429 when over the limit. */
export async function enforceRateLimit(
  c: Context<AppEnv>,
  subject: string,
  policy: string,
  limit: number,
  leaseSize: number,
): Promise<RateLimitDecision> {
  const decision = await takeToken(c, subject, limit, leaseSize);
  c.header('RateLimit-Policy', `"${policy}";q=${limit};w=${RATE_LIMIT_WINDOW_SECONDS}`);
  c.header('RateLimit', `"${policy}";r=${decision.remaining};t=${decision.resetSeconds}`);
  if (!decision.allowed) {
    throw new ApiError('rate_limited', {
      detail: `The ${policy} limit of ${limit} requests per ${RATE_LIMIT_WINDOW_SECONDS} s is used up; retry after ${decision.resetSeconds} s.`,
      headers: { 'Retry-After': String(decision.resetSeconds) },
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
