/**
 * @module
 * One Durable Object per rate-limited subject (an organisation's route class, or a client IP's
 * failed authentications). A Durable Object runs one request at a time, so its count is exact
 * under any concurrency: it never hands out more than the limit in a window.
 *
 * It hands out tokens in leases (see middleware/rate-limit.ts): an isolate asks for up to
 * `wanted` tokens and spends them without a round trip per request. A lease is at most a tenth of
 * what is left (and at least one token), so near the limit leases shrink to single tokens and the
 * tokens stranded in isolates that stop asking stay small.
 *
 * Fixed windows aligned to the clock, counted in memory. The state is only the current window's
 * count: losing it (eviction, restart) can only admit up to one extra window's worth, never
 * lock anyone out, and no storage write slows the hot path.
 */
import { DurableObject } from 'cloudflare:workers';

/** Of what is left in the window, the largest share one lease may take. */
const LEASE_SHARE_DIVISOR = 10;

export interface RateLimitGrant {
  /** Tokens granted to the caller, 0 when the window is used up. */
  granted: number;
  /** Tokens not yet leased to anyone in this window, after this grant. */
  unleased: number;
  /** When this window started (ms since the epoch); it ends `windowSeconds` later. */
  windowStart: number;
}

export class RateLimiter extends DurableObject {
  private windowStart = 0;
  private leased = 0;

  /** Leases up to `wanted` of this window's tokens against `limit` per `windowSeconds`. */
  lease(limit: number, windowSeconds: number, wanted: number): RateLimitGrant {
    const windowMs = windowSeconds * 1000;
    const now = Date.now();
    const windowStart = now - (now % windowMs);
    if (windowStart !== this.windowStart) {
      this.windowStart = windowStart;
      this.leased = 0;
    }
    const unleased = Math.max(0, limit - this.leased);
    const share = Math.max(1, Math.floor(unleased / LEASE_SHARE_DIVISOR));
    const granted = Math.min(unleased, share, Math.max(1, Math.floor(wanted)));
    this.leased += granted;
    return { granted, unleased: unleased - granted, windowStart };
  }
}
