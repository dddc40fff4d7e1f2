/**
 * @module
 * Webhook delivery as the contract states it: the retry schedule, the timeout, when a failing
 * endpoint is disabled, and what the attempts API shows of each HTTP request made.
 */
import { z } from '@hono/zod-openapi';
import { idSchema, NextCursorSchema, PaginationQuerySchema, queryFilter, TimestampSchema } from './common.ts';
import { EventIdSchema } from './events.ts';

/**
 * When each attempt of a delivery is made, in seconds after the previous one failed: Svix's
 * schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), eight attempts over about 27
 * hours. The queue's max_retries (wrangler.toml) is its length less one.
 */
export const RETRY_SCHEDULE_SECONDS = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600] as const;

/** How long a receiver has to answer one attempt. */
export const ATTEMPT_TIMEOUT_MS = 15_000;

/** An endpoint whose attempts have failed, with no success, for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 60 * 60 * 1000;

/** What the delivery queue carries: the delivery to attempt; everything else is read from D1 when it is attempted. */
export interface DeliveryMessage {
  deliveryId: string;
}

const OUTCOMES = ['succeeded', 'failed', 'timeout', 'network_error', 'not_allowed'] as const;

export const WebhookAttemptSchema = z
  .object({
    id: idSchema('webhookAttempt', 'The attempt id.', 'wha_5Jm2Qx8KcT3rVb7NpWd1Hs'),
    event_id: EventIdSchema.openapi({ description: 'The event delivered (its `webhook-id`).' }),
    attempt: z.int().min(1).openapi({ description: 'Which attempt of this event at this endpoint: 1 for the first.', example: 1 }),
    outcome: z.enum(OUTCOMES).openapi({
      description:
        'How it went: `succeeded` (a 2xx), `failed` (another status), `timeout` (no answer within 15 s), `network_error` (no connection), `not_allowed` (the URL is not one an endpoint may have now).',
      example: 'succeeded',
    }),
    status_code: z.int().nullable().openapi({ description: "The receiver's status; `null` when it did not answer.", example: 200 }),
    duration_ms: z.int().min(0).openapi({ description: 'From sending the request to the answer, or to giving up.', example: 84 }),
    next_attempt_at: TimestampSchema.nullable().openapi({ description: 'When the event is sent again; `null` when it is not.' }),
    created_at: TimestampSchema.openapi({ description: 'When the request was sent.' }),
  })
  .openapi('WebhookAttempt', { description: 'One HTTP request made to deliver an event to the endpoint.' });

export const WebhookAttemptListSchema = z
  .object({
    data: z.array(WebhookAttemptSchema).openapi({ description: 'Attempts in the order they were made, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('WebhookAttemptList', { description: 'A page of attempts.' });

export const WebhookAttemptQuerySchema = PaginationQuerySchema.extend({
  // Any id-sized string, as the audit log's `target_id`: a filter naming no event of the endpoint matches nothing.
  event_id: queryFilter(z.string().min(1).max(64), 'Only the attempts to deliver this event (`msg_…`).'),
}).strict();
