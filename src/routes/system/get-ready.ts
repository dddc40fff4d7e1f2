import * as migrations from '../../db/migrations.ts';
import { ApiError } from '../../errors.ts';
import { withTimeout } from '../../lib/resilience.ts';
import { problemResponse, RETRY_AFTER_HEADER } from '../../schemas/responses.ts';
import { ReadinessSchema } from '../../schemas/system.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';

/** How long the database may take before the Worker reports itself not ready. */
export const READY_TIMEOUT_MS = 2_000;
const RETRY_AFTER_SECONDS = 5;

export const getReadyRoute = defineRoute({
  method: 'get',
  path: '/ready',
  operationId: 'getReady',
  tags: ['System'],
  summary: 'Readiness probe',
  description: `Answers 200 when D1 answers within ${READY_TIMEOUT_MS} ms and has the schema this code needs, else 503 with \`Retry-After\`.`,
  security: [],
  responses: {
    200: { description: 'Ready to serve traffic.', content: { 'application/json': { schema: ReadinessSchema } } },
    503: problemResponse('A dependency is unreachable, too slow, or not migrated.', RETRY_AFTER_HEADER),
  },
});

export const getReady: AppRouteHandler<typeof getReadyRoute> = async (c) => {
  const { db } = c.get('config');
  const started = Date.now();
  let applied: boolean;
  try {
    applied = await withTimeout(migrations.isMigrationApplied(db, migrations.REQUIRED_MIGRATION), READY_TIMEOUT_MS, 'D1 readiness query');
  } catch (error) {
    throw notReady('The database did not answer in time or could not be queried.', error);
  }
  if (!applied) throw notReady(`The database is missing migration ${migrations.REQUIRED_MIGRATION}.`);
  return c.json({ status: 'ready' as const, checks: { database: { status: 'ok' as const, duration_ms: Date.now() - started } } }, 200);
};

function notReady(detail: string, cause?: unknown): ApiError {
  return new ApiError('not_ready', { detail, cause, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
}
