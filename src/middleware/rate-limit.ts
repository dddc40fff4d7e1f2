/**
 * @module
 * Per-organisation rate limits by route class, counted exactly by the RateLimiter Durable Object,
 * announced with the IETF httpapi draft headers (draft-ietf-httpapi-ratelimit-headers):
 *   RateLimit-Policy: "write";q=120;w=60
 *   RateLimit: "write";r=119;t=42
 * Over the limit: 429 `rate_limited` with `Retry-After`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import type { RateLimitDecision, RateLimiter } from '../durable-objects/rate-limiter.ts';
import { ApiError } from '../errors.ts';

export type RateLimitClass = 'read' | 'write' | 'token';

export const RATE_LIMIT_WINDOW_SECONDS = 60;

function limiterFor(c: Context<AppEnv>, subject: string) {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  const namespace = c.get('config').rateLimiter as unknown as DurableObjectNamespace<RateLimiter>;
  return namespace.get(namespace.idFromName(subject));
}

/** Counts one request for `subject`; sets the RateLimit headers; throws 429 when over the limit. */
export async function enforceRateLimit(c: Context<AppEnv>, subject: string, policy: string, limit: number): Promise<RateLimitDecision> {
  const decision = await limiterFor(c, subject).consume(limit, RATE_LIMIT_WINDOW_SECONDS);
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
    await enforceRateLimit(c, `org:${auth.orgId}:${kind}`, kind, auth.limits[kind]);
    await next();
  };
}
