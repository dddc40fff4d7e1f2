import * as events from '../../db/events.ts';
import * as webhookDeliveries from '../../db/webhook-deliveries.ts';
import { ApiError, notFound } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { WebhookDeliverySchema, WebhookResendSchema } from '../../schemas/webhook-attempts.ts';
import { WebhookEndpointPathSchema } from '../../schemas/webhook-endpoints.ts';
import { TEST_EVENT_TYPE } from '../../schemas/webhook-events.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { requireEventTypeReadable, retainedSince } from '../events/authorize.ts';
import { enqueueDeliveries } from '../outbox.ts';
import { requireEndpointWithinCaller } from './authorize.ts';
import { loadReceivingEndpoint } from './load.ts';
import { presentWebhookDelivery } from './present.ts';

export const resendWebhookEventRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/resend',
  operationId: 'resendWebhookEvent',
  tags: ['Webhook endpoints'],
  summary: 'Resend an event',
  description:
    "Sends an event of the last 30 days to the endpoint again, now, with the same `webhook-id` (a receiver that deduplicates on it sees one event), signed afresh. Its delivery to the endpoint is reopened, whatever its status, with the whole retry schedule again; an event the endpoint never got (it was created later, or paused) is sent for the first time. The answer is the delivery as it stands now: follow it with the attempts list. The endpoint must be enabled and receive the event's type.",
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: {
    params: WebhookEndpointPathSchema,
    body: { required: true, content: { 'application/json': { schema: WebhookResendSchema } } },
  },
  responses: {
    202: {
      description: 'The delivery, pending and due now.',
      content: { 'application/json': { schema: WebhookDeliverySchema } },
    },
    403: problemResponse(
      'The API key lacks `webhooks:admin`, or the scope to read an event type the endpoint receives (`insufficient_scope`, naming it).',
    ),
    404: problemResponse('No such endpoint, or no such event within its 30 days (`not_found`).'),
    409: problemResponse("The endpoint is disabled (`endpoint_disabled`), or does not receive the event's type (`event_not_subscribed`)."),
  },
});

export const authorizeResendWebhookEvent: RouteAuthorizer<typeof resendWebhookEventRoute> = (c) =>
  requireEndpointWithinCaller(c, c.req.valid('param').id, 'resend events to');

export const resendWebhookEvent: AppRouteHandler<typeof resendWebhookEventRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { event_id: eventId } = c.req.valid('json');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const [endpoint, event, existing] = await Promise.all([
    loadReceivingEndpoint(db, orgId, id),
    events.getEvent(db, orgId, eventId),
    webhookDeliveries.deliveryOfEvent(db, orgId, id, eventId),
  ]);
  if (!event || event.createdAt < retainedSince(undefined)) throw notFound('event', eventId);
  requireEventTypeReadable(c, event.type);
  // A test event was sent to one endpoint, whatever it subscribes to; any other goes only where it would have.
  if (event.type !== TEST_EVENT_TYPE && endpoint.eventTypes !== null && !endpoint.eventTypes.includes(event.type)) {
    throw new ApiError('event_not_subscribed', {
      detail: `Webhook endpoint ${id} does not receive \`${event.type}\` events: add the type to its event_types first.`,
    });
  }
  const at = nowIso();
  const delivery: webhookDeliveries.DeliveryRecord = {
    ...(existing ?? { id: newId('webhookDelivery'), orgId, endpointId: id, eventId, attempts: 0, createdAt: at }),
    status: 'pending',
    scheduleFrom: existing?.attempts ?? 0,
    nextAttemptAt: at,
    leasedUntil: null,
    updatedAt: at,
  };
  return commit(
    c,
    {
      statements: [
        webhookDeliveries.redeliver(db, { id: delivery.id, orgId, endpointId: id, eventId, at }),
        await auditEvent(c, 'webhook_endpoint.event_resent', id, at),
      ],
      afterCommit: () => enqueueDeliveries(c, [delivery.id]),
    },
    { status: 202, json: presentWebhookDelivery(delivery) },
  );
};
