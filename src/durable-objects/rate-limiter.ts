/**
 * @module
 * One Durable Object per rate-limited subject (an organisation's route class, or a client IP's
 * failed authentications). A Durable Object runs one request at a time, so the count is exact
 * under any concurrency: of N simultaneous requests against a limit of L, exactly L are admitted.
 *
 * Fixed windows aligned to the clock, counted in memory. The state is only the current window's
 * count: losing it (eviction, restart) can only admit up to one extra window's worth, never
 * lock anyone out, and no storage write slows the hot path.
 */
import { DurableObject } from 'cloudflare:workers';

export interface RateLimitDecision {
  allowed: boolean;
  /** The limit of this window. */
  limit: number;
  /** Requests left in this window after this one. */
  remaining: number;
  /** Seconds until the window resets (at least 1). */
  resetSeconds: number;
}

export class RateLimiter extends DurableObject {
  private windowStart = 0;
  private count = 0;

  /** Counts one request against `limit` per `windowSeconds`, refusing it when the limit is reached. */
  consume(limit: number, windowSeconds: number): RateLimitDecision {
    const windowMs = windowSeconds * 1000;
    const now = Date.now();
    const windowStart = now - (now % windowMs);
    if (windowStart !== this.windowStart) {
      this.windowStart = windowStart;
      this.count = 0;
    }
    const resetSeconds = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000));
    if (this.count >= limit) return { allowed: false, limit, remaining: 0, resetSeconds };
    this.count += 1;
    return { allowed: true, limit, remaining: limit - this.count, resetSeconds };
  }
}
