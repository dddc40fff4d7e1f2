import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import { d1Circuit, guardD1 } from '../../db/guarded-d1.ts';
import * as migrations from '../../db/migrations.ts';
import { ApiError } from '../../errors.ts';
import { withTimeout } from '../../lib/resilience.ts';
import { LEASE_TIMEOUT_MS, rateLimiterReadiness } from '../../middleware/rate-limit.ts';
import { problemResponse, RETRY_AFTER_HEADER } from '../../schemas/responses.ts';
import { ReadinessSchema } from '../../schemas/system.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { ROOM_CALL_TIMEOUT_MS, roomsReadiness } from '../sessions/room.ts';

/** How long the database may take before the Worker reports itself not ready. */
export const READY_TIMEOUT_MS = 2_000;
const RETRY_AFTER_SECONDS = 5;
/**
 * The object each Durable Object probe calls. Room names are `ses_…` ids and rate-limit subjects
 * `org:…` / `ip:…`, so no session or counter is touched.
 */
const PROBE_OBJECT = 'readiness-probe';

export const getReadyRoute = defineRoute({
  method: 'get',
  path: '/ready',
  operationId: 'getReady',
  tags: ['System'],
  summary: 'Readiness probe',
  description: `Checks each dependency concurrently. 503 with \`Retry-After\` when D1 does not answer within ${READY_TIMEOUT_MS} ms or lacks the schema this code needs: nothing can be served. Otherwise 200: \`ready\` when a RateLimiter and a SessionRoom answered too, \`degraded\` (still serving) when one did not; \`checks\` says which, with this Worker instance's circuit breaker states.`,
  security: [],
  responses: {
    200: { description: 'The API can serve traffic, fully or degraded.', content: { 'application/json': { schema: ReadinessSchema } } },
    503: problemResponse('The database is unreachable, too slow, or not migrated.', RETRY_AFTER_HEADER),
  },
});

/** `check`'s result and how long it took. */
async function timed<T>(check: () => Promise<T>): Promise<{ value: T; durationMs: number }> {
  const started = Date.now();
  const value = await check();
  return { value, durationMs: Date.now() - started };
}

/** The schema check, its failure kept as a value so the other checks run to their end too. */
async function databaseMigrated(db: D1Database): Promise<{ applied: boolean } | { failed: unknown }> {
  try {
    return {
      applied: await withTimeout(migrations.isMigrationApplied(db, migrations.REQUIRED_MIGRATION), READY_TIMEOUT_MS, 'D1 readiness query'),
    };
  } catch (error) {
    return { failed: error };
  }
}

/**
 * Whether a Durable Object answered `ping` within the deadline its real calls have (a lease's, a
 * room call's); a failure is logged and reported, not thrown, and an open circuit is not called.
 */
async function answers(c: Context<AppEnv>, label: string, ping: () => Promise<unknown>, timeoutMs: number, circuitOpen: boolean) {
  if (circuitOpen) return false;
  try {
    await withTimeout(ping(), timeoutMs, `${label} readiness probe`);
    return true;
  } catch (error) {
    c.get('logger').warn(`${label} readiness probe failed`, { error });
    return false;
  }
}

export const getReady: AppRouteHandler<typeof getReadyRoute> = async (c) => {
  const limiter = rateLimiterReadiness(c, PROBE_OBJECT);
  const room = roomsReadiness(c, PROBE_OBJECT);
  // Every probe settles on its own (none throws), and within its deadline.
  const [database, rateLimiter, rooms] = await Promise.all([
    // The plain binding, not the request's session: ready means the primary, where every change goes,
    // answers and has the schema (a replica may lag a migration); and a probe's answer needs no bookmark.
    timed(() =>
      databaseMigrated(guardD1(c.env.DB, { deadlineAt: c.get('deadlineAt'), telemetry: c.get('telemetry'), meter: c.get('meter') })),
    ),
    timed(() => answers(c, 'RateLimiter', limiter.ping, LEASE_TIMEOUT_MS, limiter.circuit === 'open')),
    // Rooms have a breaker each, so no one circuit stands for them all: the probe always goes out.
    timed(() => answers(c, 'SessionRoom', room.ping, ROOM_CALL_TIMEOUT_MS, false)),
  ]);
  if ('failed' in database.value) throw notReady('The database did not answer in time or could not be queried.', database.value.failed);
  if (!database.value.applied) throw notReady(`The database is missing migration ${migrations.REQUIRED_MIGRATION}.`);
  const degraded = !rateLimiter.value || !rooms.value;
  return c.json(
    {
      status: degraded ? ('degraded' as const) : ('ready' as const),
      checks: {
        // The breaker is keyed by the binding itself, which config's `db` wraps.
        database: { status: 'ok' as const, circuit: d1Circuit(c.env.DB), duration_ms: database.durationMs },
        rate_limiter: {
          status: rateLimiter.value ? ('ok' as const) : ('degraded' as const),
          circuit: limiter.circuit,
          duration_ms: rateLimiter.durationMs,
        },
        session_rooms: {
          status: rooms.value ? ('ok' as const) : ('unavailable' as const),
          open_circuits: room.openCircuits,
          duration_ms: rooms.durationMs,
        },
      },
    },
    200,
  );
};

function notReady(detail: string, cause?: unknown): ApiError {
  return new ApiError('not_ready', { detail, cause, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
}
