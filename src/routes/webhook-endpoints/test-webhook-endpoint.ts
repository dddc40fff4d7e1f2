import * as events from '../../db/events.ts';
import * as webhookDeliveries from '../../db/webhook-deliveries.ts';
import { nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { WebhookDeliverySchema } from '../../schemas/webhook-attempts.ts';
import { WebhookEndpointPathSchema } from '../../schemas/webhook-endpoints.ts';
import { TEST_EVENT_TYPE } from '../../schemas/webhook-events.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent, enqueueDeliveries } from '../outbox.ts';
import { loadReceivingEndpoint } from './load.ts';
import { presentWebhookDelivery, presentWebhookEndpoint } from './present.ts';

export const testWebhookEndpointRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/test',
  operationId: 'testWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Send a test event',
  description:
    "Sends a `webhook.test` event, whose `data` is the endpoint, to this endpoint only, signed and retried like any other: a way to check a receiver's URL and signature verification. It is listed by GET /v1/events (with `webhooks:admin`) and its attempts by the attempts list. The endpoint must be enabled.",
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: { params: WebhookEndpointPathSchema },
  responses: {
    202: {
      description: "The test event's delivery, pending and due now.",
      content: { 'application/json': { schema: WebhookDeliverySchema } },
    },
    409: problemResponse('The endpoint is disabled (`endpoint_disabled`): enable it first.'),
  },
});

export const testWebhookEndpoint: AppRouteHandler<typeof testWebhookEndpointRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const endpoint = await loadReceivingEndpoint(db, orgId, id);
  const at = nowIso();
  const eventId = newId('event');
  const delivery: webhookDeliveries.DeliveryRecord = {
    id: newId('webhookDelivery'),
    orgId,
    endpointId: id,
    eventId,
    status: 'pending',
    attempts: 0,
    scheduleFrom: 0,
    nextAttemptAt: at,
    leasedUntil: null,
    createdAt: at,
    updatedAt: at,
  };
  return commit(
    c,
    {
      statements: [
        changeEvent(c, TEST_EVENT_TYPE, presentWebhookEndpoint(endpoint), at, { eventId }),
        // Dispatched already, to this endpoint alone: the outbox's dispatch leaves it to this delivery.
        events.markDispatched(db, eventId, at),
        webhookDeliveries.insertDelivery(db, { id: delivery.id, orgId, endpointId: id, eventId, at }),
        await auditEvent(c, 'webhook_endpoint.tested', id, at),
      ],
      afterCommit: () => enqueueDeliveries(c, [delivery.id]),
    },
    { status: 202, json: presentWebhookDelivery(delivery) },
  );
};
