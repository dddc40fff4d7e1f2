/**
 * @module
 * The request's overall deadline. Each dependency call has its own timeout (db/guarded-d1.ts,
 * routes/sessions/room.ts, middleware/rate-limit.ts), and those calls are also clipped to what is
 * left of this deadline, so a request making several slow calls in a row still answers in time.
 * Whatever is still running when it passes (CPU work, an unguarded call) is raced here.
 *
 * Own code rather than `hono/timeout`: the calls inside need the deadline itself (to clip their
 * attempts), and the answer must be our `timeout` problem with `Retry-After`, which the
 * `HTTPException` that middleware throws cannot be without a second mapping in the renderer.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { ApiError } from '../errors.ts';
import { TimeoutError, withTimeout } from '../lib/resilience.ts';

/**
 * Long enough for the slowest path that can still succeed (an uncached key read, a lease, a read
 * with its retries, a write and a room call: about 8 s only when each is near its own limit);
 * short enough that a client or load balancer waiting on us has not given up first.
 */
export const REQUEST_DEADLINE_MS = 8_000;
const RETRY_AFTER_SECONDS = 1;
/**
 * The race ends this much after the calls' deadline, so a call stopped at the deadline answers with
 * its own problem (which names the dependency, and is logged with it) rather than the generic one.
 */
const REPORTING_MARGIN_MS = 50;

export function requestDeadline(milliseconds = REQUEST_DEADLINE_MS): MiddlewareHandler<AppEnv> {
  return async function requestDeadline(c, next) {
    c.set('deadlineAt', Date.now() + milliseconds);
    try {
      await withTimeout(next(), milliseconds + REPORTING_MARGIN_MS, 'the request');
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      const changes = c.req.method !== 'GET' && c.req.method !== 'HEAD';
      throw new ApiError('timeout', {
        detail: `The request did not finish within ${milliseconds} ms.${
          changes
            ? ' Its change may have been made: repeat it with the same Idempotency-Key (or read the resource) to learn its outcome.'
            : ''
        }`,
        headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
        cause: error,
      });
    }
  };
}
