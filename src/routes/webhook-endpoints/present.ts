/**
 * @module
 * Webhook endpoints and their delivery attempts as the API shows them (never an endpoint's secrets),
 * and the checks a URL must pass before one is stored.
 */
import type { z } from '@hono/zod-openapi';
import type * as webhookAttempts from '../../db/webhook-attempts.ts';
import type * as webhookDeliveries from '../../db/webhook-deliveries.ts';
import type * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import type { Config } from '../../env.ts';
import { ApiError } from '../../errors.ts';
import { checkWebhookUrl } from '../../lib/webhook-url.ts';
import type { WebhookAttemptSchema, WebhookDeliverySchema } from '../../schemas/webhook-attempts.ts';
import type { WebhookEndpointSchema } from '../../schemas/webhook-endpoints.ts';

export function presentWebhookEndpoint(endpoint: webhookEndpoints.WebhookEndpointRecord): z.infer<typeof WebhookEndpointSchema> {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    event_types: endpoint.eventTypes,
    enabled: endpoint.enabled,
    previous_secret_expires_at: endpoint.previousSecretExpiresAt,
    created_at: endpoint.createdAt,
    updated_at: endpoint.updatedAt,
    version: endpoint.version,
  };
}

export function webhookEndpointLocation(id: string): string {
  return `/v1/webhook-endpoints/${id}`;
}

/**
 * The URL to store, normalised, or a 400 naming the field: the schema checks the form, this where
 * it points, which depends on the deployment (http to loopback only outside production).
 */
export function receiverUrl(url: string, environment: Config['environment']): string {
  const verdict = checkWebhookUrl(url, environment);
  if (verdict.ok) return verdict.url;
  throw new ApiError('validation_failed', {
    detail: `body/url: ${verdict.reason}`,
    errors: [{ location: 'body', pointer: '/url', detail: verdict.reason, code: 'url_not_allowed' }],
    // A URL aimed at the deployment's own network is how a webhook becomes a server-side request forgery.
    security: { event: 'ssrf_refused', reason: 'url_not_allowed', details: { rule: verdict.reason } },
  });
}

export function presentWebhookAttempt(attempt: webhookAttempts.AttemptRecord): z.infer<typeof WebhookAttemptSchema> {
  return {
    id: attempt.id,
    event_id: attempt.eventId,
    attempt: attempt.attempt,
    outcome: attempt.outcome,
    status_code: attempt.statusCode,
    duration_ms: attempt.durationMs,
    next_attempt_at: attempt.nextAttemptAt,
    created_at: attempt.createdAt,
  };
}

export function presentWebhookDelivery(delivery: webhookDeliveries.DeliveryRecord): z.infer<typeof WebhookDeliverySchema> {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    status: delivery.status,
    attempts: delivery.attempts,
    next_attempt_at: delivery.nextAttemptAt,
    created_at: delivery.createdAt,
  };
}
