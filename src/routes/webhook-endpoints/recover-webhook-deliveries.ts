import * as webhookDeliveries from '../../db/webhook-deliveries.ts';
import { nowIso } from '../../lib/clock.ts';
import { EVENT_RETENTION_DAYS } from '../../schemas/events.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { MAX_RECOVERED_DELIVERIES, WebhookRecoverSchema, WebhookRecoverySchema } from '../../schemas/webhook-attempts.ts';
import { WebhookEndpointPathSchema } from '../../schemas/webhook-endpoints.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { retainedSince } from '../events/authorize.ts';
import { enqueueDeliveries } from '../outbox.ts';
import { requireEndpointWithinCaller } from './authorize.ts';
import { loadReceivingEndpoint } from './load.ts';

export const recoverWebhookDeliveriesRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/recover',
  operationId: 'recoverWebhookDeliveries',
  tags: ['Webhook endpoints'],
  summary: 'Resend failed events',
  description: `After a receiver was down: sends again every event whose delivery to the endpoint failed (its retry schedule ran out, or the endpoint was disabled meanwhile), dispatched in the window, oldest first, with the same \`webhook-id\`s and the whole retry schedule each. Events are kept ${EVENT_RETENTION_DAYS} days: an earlier \`since\` recovers from the oldest kept. One call reopens at most ${MAX_RECOVERED_DELIVERIES.toLocaleString('en')}; with \`has_more\`, call again with the same window. Deliveries still being retried are left to their schedule. The endpoint must be enabled.`,
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: {
    params: WebhookEndpointPathSchema,
    body: { required: true, content: { 'application/json': { schema: WebhookRecoverSchema } } },
  },
  responses: {
    202: {
      description: 'How many failed deliveries are being sent again.',
      content: { 'application/json': { schema: WebhookRecoverySchema } },
    },
    403: problemResponse(
      'The API key lacks `webhooks:admin`, or the scope to read an event type the endpoint receives (`insufficient_scope`, naming it).',
    ),
    409: problemResponse('The endpoint is disabled (`endpoint_disabled`): enable it first.'),
  },
});

export const authorizeRecoverWebhookDeliveries: RouteAuthorizer<typeof recoverWebhookDeliveriesRoute> = (c) =>
  requireEndpointWithinCaller(c, c.req.valid('param').id, 'recover the events of');

export const recoverWebhookDeliveries: AppRouteHandler<typeof recoverWebhookDeliveriesRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const body = c.req.valid('json');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  await loadReceivingEndpoint(db, orgId, id);
  const at = nowIso();
  // A window that ends before it starts holds nothing, as for the events list's since and until.
  const window = { since: retainedSince(body.since), until: body.until };
  // One more than a call reopens, to tell whether any are left.
  const failed = await webhookDeliveries.failedDeliveryIds(db, orgId, id, window, MAX_RECOVERED_DELIVERIES + 1);
  const reopened = failed.slice(0, MAX_RECOVERED_DELIVERIES);
  const answer = { recovered: reopened.length, has_more: failed.length > reopened.length };
  return commit(
    c,
    {
      statements: [webhookDeliveries.reopenFailedDeliveries(db, reopened, at), await auditEvent(c, 'webhook_endpoint.recovered', id, at)],
      afterCommit: () => enqueueDeliveries(c, reopened),
    },
    { status: 202, json: answer },
  );
};
