/**
 * @module
 * One Durable Object per rate-limited subject (an organisation's route class, or a client IP's
 * failed authentications). A Durable Object runs one request at a time, so its count is exact
 * under any concurrency.
 *
 * It hands out tokens in leases (see middleware/rate-limit.ts): an isolate asks for up to `wanted`
 * tokens and spends them without a round trip per request. A lease is at most a tenth of what is
 * left (and at least one token), so near the limit leases shrink to single tokens.
 *
 * ## The guarantee: at most `limit` admissions in ANY `window` (60 s), not just in aligned windows
 *
 * Notation: B = {@link BUCKET_MS} = 1 s, W = the window = 60 s = 60 B, M = {@link CLOCK_MARGIN_MS}.
 * Bucket k is the time [k·B, (k+1)·B) of this object's clock.
 *
 * - Leases expire. Tokens granted in bucket k may be spent only before (k+2)·B − M: until the end of
 *   the bucket after the grant's, less a margin (so a lease lives between B − M and 2B − M). The
 *   grant carries that as a duration, `expiresInMs`, and the isolate counts it from the moment it
 *   SENT its request, which is before this object read its clock, so the isolate stops no later
 *   than this object would: the clocks' offsets cancel out, only their rates matter.
 * - The rule. Grants are counted per bucket, over a horizon of H = W/B + 2 = 62 buckets
 *   ({@link horizonBuckets}); a grant in bucket k is made only if the grants of buckets k−61..k,
 *   with it, stay within `limit`.
 * - Any window [a, a+W) sees grants of at most H consecutive buckets. A token admitted in it was
 *   granted before it was spent, so before a+W: in a bucket k ≤ ⌈(a+W)/B⌉ − 1. And it was spent
 *   before its expiry, so a < (k+2)·B − M, which gives k ≥ ⌊a/B⌋ − 1. That is
 *   ⌈(a+W)/B⌉ − ⌊a/B⌋ + 1 ≤ W/B + 2 = H buckets (W/B + 1 when a falls on a bucket boundary).
 * - Any H consecutive buckets j..j+H−1 hold at most `limit` grants. Take the last grant made in
 *   them, in bucket k* ≤ j+H−1. It was checked against buckets k*−H+1..k*, which include j..k*,
 *   and buckets after k* were still empty (the clock only moves forward), so it left the span's
 *   sum within `limit`; nothing was added to the span after it.
 * - So at most `limit` tokens are spent in any window [a, a+W), whatever the number of isolates. ∎
 *
 * Assumptions: this object's clock does not step backwards (if it does, grants are booked into the
 * latest bucket seen, so counts never move back); an isolate's clock runs at this object's rate
 * over 2 s and reads the time at admission less than M late (Workers advance `Date.now()` at I/O;
 * between the last I/O and taking a token there are microseconds, so M = 50 ms is ample).
 *
 * The price, stated honestly: a client that keeps asking gets `limit` per H = 62 s, not per 60 s:
 * its sustained rate is 60/62 ≈ 96.8 % of the nominal one (about 3 % under), and a client that has
 * used everything is told to wait (`t=`, `Retry-After`) up to 62 s, until its oldest counted bucket
 * leaves the horizon. Tokens of a lease that expires unspent stay counted until their bucket
 * leaves the horizon, which is why isolates size leases by their recent demand.
 *
 * State is only in memory: 62 counts. Losing it (eviction, restart) forgets grants and can only
 * admit more (up to one extra `limit`), never lock anyone out, and no storage write slows the hot
 * path.
 */
import { DurableObject } from 'cloudflare:workers';

/** Grants are counted per bucket of this many ms of this object's clock. */
export const BUCKET_MS = 1000;
/** A lease ends this many whole buckets after the end of the bucket it was granted in. */
const LEASE_EXTRA_BUCKETS = 1;
/**
 * Taken off the end of every lease: covers an isolate's clock reading the time late (Workers advance
 * it at I/O only) or running a little fast, so tokens are never spent past the end of the next bucket.
 */
export const CLOCK_MARGIN_MS = 50;
/** Of what is left in the horizon, the largest share one lease may take. */
const LEASE_SHARE_DIVISOR = 10;

/** Buckets a grant is counted for: the window's, one for its misalignment with buckets, and a lease's extra life. */
export function horizonBuckets(windowSeconds: number): number {
  return Math.ceil((windowSeconds * 1000) / BUCKET_MS) + 1 + LEASE_EXTRA_BUCKETS;
}

export interface RateLimitGrant {
  /** Tokens granted to the caller, 0 when the horizon holds the whole limit already. */
  granted: number;
  /** Tokens that could still be leased right now, after this grant. */
  unleased: number;
  /**
   * How long the granted tokens may be spent, counted from when the caller sent its request: they
   * are void from then on. More than {@link BUCKET_MS} − {@link CLOCK_MARGIN_MS}, at most 2 × BUCKET_MS − CLOCK_MARGIN_MS.
   */
  expiresInMs: number;
  /** Ms until more capacity frees up: until the oldest bucket counted leaves the horizon. */
  freesInMs: number;
}

export class RateLimiter extends DurableObject {
  /** Grants per bucket, a ring of `horizon` slots: slot `b % horizon` counts bucket `b` when `slotBucket` says so. */
  private counts: number[] = [];
  private slotBucket: number[] = [];
  private latestBucket = Number.NEGATIVE_INFINITY;

  /**
   * Leases up to `wanted` tokens against `limit` per `windowSeconds`, in any such interval.
   * Tests drive the clock with `vi.useFakeTimers({ toFake: ['Date'] })`; nothing here takes a time from the caller.
   */
  lease(limit: number, windowSeconds: number, wanted: number): RateLimitGrant {
    const now = Date.now();
    const horizon = horizonBuckets(windowSeconds);
    if (this.counts.length !== horizon) {
      // A different window (never, in practice): forgetting the counts can only admit more.
      this.counts = Array.from({ length: horizon }, () => 0);
      this.slotBucket = Array.from({ length: horizon }, () => Number.NEGATIVE_INFINITY);
    }
    const clockBucket = Math.floor(now / BUCKET_MS);
    const bucket = Math.max(clockBucket, this.latestBucket);
    this.latestBucket = bucket;

    let used = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (let slot = 0; slot < horizon; slot += 1) {
      const counted = this.counts[slot] ?? 0;
      const slotBucket = this.slotBucket[slot] ?? Number.NEGATIVE_INFINITY;
      if (counted > 0 && slotBucket > bucket - horizon) {
        used += counted;
        oldest = Math.min(oldest, slotBucket);
      }
    }
    const slot = bucket % horizon;
    if (this.slotBucket[slot] !== bucket) {
      // The slot last counted a bucket at least a horizon ago, which no window can reach any more.
      this.slotBucket[slot] = bucket;
      this.counts[slot] = 0;
    }

    const unleased = Math.max(0, limit - used);
    const share = Math.max(1, Math.floor(unleased / LEASE_SHARE_DIVISOR));
    const granted = Math.min(unleased, share, Math.max(1, Math.floor(wanted)));
    this.counts[slot] = (this.counts[slot] ?? 0) + granted;
    if (granted > 0) oldest = Math.min(oldest, bucket);

    // From the clock's own bucket, not a later one a backward clock step booked into: never longer.
    const expiresInMs = (clockBucket + 1 + LEASE_EXTRA_BUCKETS) * BUCKET_MS - CLOCK_MARGIN_MS - now;
    const freesInMs = Number.isFinite(oldest) ? Math.max(0, (oldest + horizon) * BUCKET_MS - now) : horizon * BUCKET_MS;
    return { granted, unleased: unleased - granted, expiresInMs, freesInMs };
  }

  /** Answers at once, counting nothing: `/ready` calls it to learn whether RateLimiter objects answer. */
  ping(): true {
    return true;
  }
}
