import { versionEtag } from '../../lib/etag.ts';
import { WEBHOOK_ENDPOINT_ETAG_HEADER, WebhookEndpointPathSchema, WebhookEndpointSchema } from '../../schemas/webhook-endpoints.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadWebhookEndpoint } from './load.ts';
import { presentWebhookEndpoint } from './present.ts';

export const getWebhookEndpointRoute = defineRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'getWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Get a webhook endpoint',
  description: 'A webhook endpoint of the organisation, with its `ETag`. Its secret is not shown: rotate it to get a new one.',
  scope: 'webhooks:admin',
  rateLimit: 'read',
  request: { params: WebhookEndpointPathSchema },
  responses: {
    200: {
      description: 'The endpoint.',
      headers: WEBHOOK_ENDPOINT_ETAG_HEADER,
      content: { 'application/json': { schema: WebhookEndpointSchema } },
    },
  },
});

export const getWebhookEndpoint: AppRouteHandler<typeof getWebhookEndpointRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const endpoint = await loadWebhookEndpoint(c.get('config').db, c.get('auth').orgId, id);
  c.header('ETag', versionEtag(endpoint.version));
  return c.json(presentWebhookEndpoint(endpoint), 200);
};
