/**
 * @module
 * Schemas of the system routes (liveness, readiness).
 */
import { z } from '@hono/zod-openapi';

export const HealthSchema = z
  .object({
    status: z.literal('ok').openapi({ description: 'Always `ok`: the Worker is running and answering.' }),
  })
  .openapi('Health', { description: 'Liveness: the Worker is up. Says nothing about its dependencies; see `/ready`.' });

const CircuitSchema = z.enum(['closed', 'open', 'half-open']).openapi({
  description:
    "This Worker instance's circuit breaker for the dependency: `open` while its calls are paused after repeated failures, `half-open` while one probe is out.",
});

const DurationSchema = z.number().min(0).openapi({ description: 'How long the check took, in milliseconds.', example: 2 });

export const ReadinessSchema = z
  .object({
    status: z.enum(['ready', 'degraded']).openapi({
      description:
        '`ready`: every dependency answered. `degraded`: the database answered, so the API serves requests, but another dependency did not (see `checks`): rate limits are then enforced from a reduced local allowance, or realtime sessions cannot be reached.',
    }),
    checks: z
      .object({
        database: z
          .object({
            status: z
              .literal('ok')
              .openapi({ description: 'D1 answered and has the schema this code needs (otherwise the answer is a 503).' }),
            circuit: CircuitSchema,
            duration_ms: DurationSchema,
          })
          .openapi({ description: 'The D1 database: required, so it is never degraded on a 200.' }),
        rate_limiter: z
          .object({
            status: z.enum(['ok', 'degraded']).openapi({
              description:
                '`degraded`: the RateLimiter did not answer (or its circuit is open); requests are served against a reduced per-instance allowance, and `RateLimit-Policy` names the class with `-degraded`.',
            }),
            circuit: CircuitSchema,
            duration_ms: DurationSchema,
          })
          .openapi({ description: 'The RateLimiter Durable Objects that count requests against rate limits.' }),
        session_rooms: z
          .object({
            status: z.enum(['ok', 'unavailable']).openapi({
              description: '`unavailable`: a SessionRoom did not answer; sessions cannot be joined, published to or ended until it does.',
            }),
            open_circuits: z.int().min(0).openapi({
              description: "How many sessions' rooms this Worker instance has paused calls to after repeated failures.",
              example: 0,
            }),
            duration_ms: DurationSchema,
          })
          .openapi({ description: 'The SessionRoom Durable Objects, one per session, that fan messages out.' }),
      })
      .openapi({ description: 'Each dependency, checked concurrently.' }),
  })
  .openapi('Readiness', { description: 'Readiness: whether the Worker and each of its dependencies can serve traffic.' });

export type Readiness = z.infer<typeof ReadinessSchema>;
