/**
 * @module
 * Webhook delivery as the contract states it: the retry schedule, the timeout, when a failing
 * endpoint is disabled, and what the attempts API shows of each HTTP request made.
 */
import { z } from '@hono/zod-openapi';
import { idSchema, NextCursorSchema, PaginationQuerySchema, queryFilter, TimestampInputSchema, TimestampSchema } from './common.ts';
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

/** The most failed deliveries one recovery reopens: a bigger backlog takes more calls (`has_more`), each bounded in time. */
export const MAX_RECOVERED_DELIVERIES = 1_000;

export const WebhookDeliverySchema = z
  .object({
    id: idSchema('webhookDelivery', 'The delivery id.', 'whd_3Vb8Qm2Xc7Lk4Rt9Nw1Zs6'),
    event_id: EventIdSchema.openapi({ description: 'The event delivered (its `webhook-id`, the same on every attempt and every resend).' }),
    status: z.enum(['pending', 'succeeded', 'failed']).openapi({
      description: '`pending` until an attempt gets a 2xx (`succeeded`) or the retry schedule runs out (`failed`).',
      example: 'pending',
    }),
    attempts: z.int().min(0).openapi({ description: 'Attempts made so far, resends included.', example: 0 }),
    next_attempt_at: TimestampSchema.nullable().openapi({ description: 'When the next attempt is due; `null` once settled.' }),
    created_at: TimestampSchema.openapi({ description: 'When the event was first dispatched to the endpoint.' }),
  })
  .openapi('WebhookDelivery', {
    description: 'An event on its way to one endpoint: one per event and endpoint, reopened by a resend or a recovery.',
  });

export const WebhookResendSchema = z
  .object({
    event_id: EventIdSchema.openapi({ description: 'The event to send again (`msg_…`), within its 30 days.' }),
  })
  .strict()
  .openapi('WebhookResend', { description: 'Which event to send to the endpoint again.' });

export const WebhookRecoverSchema = z
  .object({
    since: TimestampInputSchema.openapi({ description: 'Send again the failed deliveries of events dispatched at or after this time.' }),
    until: TimestampInputSchema.optional().openapi({ description: 'And before this time; omitted: up to now.' }),
  })
  .strict()
  .openapi('WebhookRecover', { description: 'The window of failed deliveries to send again.' });

export const WebhookRecoverySchema = z
  .object({
    recovered: z
      .int()
      .min(0)
      .max(MAX_RECOVERED_DELIVERIES)
      .openapi({ description: `Failed deliveries reopened by this call, oldest first, at most ${MAX_RECOVERED_DELIVERIES}.`, example: 12 }),
    has_more: z.boolean().openapi({
      description: 'Whether failed deliveries in the window are left: call again with the same window to reopen the next ones.',
      example: false,
    }),
  })
  .openapi('WebhookRecovery', {
    description: 'What a recovery reopened: each delivery is attempted again now, with the whole retry schedule.',
  });
