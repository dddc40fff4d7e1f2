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

export const ReadinessSchema = z
  .object({
    status: z.literal('ready').openapi({ description: 'Always `ready` on a 200: every dependency answered.' }),
    checks: z
      .object({
        database: z
          .object({
            status: z.literal('ok').openapi({ description: 'D1 answered and has the schema this code needs.' }),
            duration_ms: z.number().min(0).openapi({ description: 'How long the check took, in milliseconds.', example: 2 }),
          })
          .openapi({ description: 'The D1 database check.' }),
      })
      .openapi({ description: 'Each dependency that was checked.' }),
  })
  .openapi('Readiness', { description: 'Readiness: the Worker and its dependencies can serve traffic.' });
