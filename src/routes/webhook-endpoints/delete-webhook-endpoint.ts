import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import { ApiError, notFound } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { WebhookEndpointIfMatchHeaderSchema, WebhookEndpointPathSchema } from '../../schemas/webhook-endpoints.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { requireEndpointWithinCaller } from './authorize.ts';
import { loadWebhookEndpointForChange } from './load.ts';

export const deleteWebhookEndpointRoute = defineRoute({
  method: 'delete',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'deleteWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Delete a webhook endpoint',
  description:
    'Removes the endpoint and its secrets; nothing more is delivered to it, and deleting it again is a 404. With `If-Match`, only if it has not changed since.',
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: { params: WebhookEndpointPathSchema, headers: WebhookEndpointIfMatchHeaderSchema },
  responses: {
    204: { description: 'Deleted.' },
    403: problemResponse(
      'The API key lacks `webhooks:admin`, or the scope to read an event type the endpoint receives (`insufficient_scope`, naming it).',
    ),
    412: problemResponse('`If-Match` does not name the current version: read the endpoint again.'),
  },
});

export const authorizeDeleteWebhookEndpoint: RouteAuthorizer<typeof deleteWebhookEndpointRoute> = (c) =>
  requireEndpointWithinCaller(c, c.req.valid('param').id, 'delete');

export const deleteWebhookEndpoint: AppRouteHandler<typeof deleteWebhookEndpointRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const current = await loadWebhookEndpointForChange(db, orgId, id, ifMatch);
  const deleted = await commit(
    c,
    {
      statements: [
        webhookEndpoints.deleteWebhookEndpoint(db, orgId, id, ifMatch === undefined ? undefined : current.version),
        await auditEvent(c, 'webhook_endpoint.deleted', id, nowIso(), { onlyIfChanged: true }),
      ],
      conditional: true,
    },
    { status: 204 },
  );
  if (deleted) return deleted;
  if (ifMatch !== undefined) {
    throw new ApiError('precondition_failed', { detail: 'The webhook endpoint changed while it was being deleted; read it again.' });
  }
  throw notFound('webhook endpoint', id);
};
