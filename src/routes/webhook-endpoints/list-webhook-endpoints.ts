import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { WebhookEndpointListQuerySchema, WebhookEndpointListSchema } from '../../schemas/webhook-endpoints.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentWebhookEndpoint } from './present.ts';

const LIST = 'webhook-endpoints';

export const listWebhookEndpointsRoute = defineRoute({
  method: 'get',
  path: '/v1/webhook-endpoints',
  operationId: 'listWebhookEndpoints',
  tags: ['Webhook endpoints'],
  summary: 'List webhook endpoints',
  description: "The organisation's webhook endpoints in creation order (then id), a page at a time, without their secrets.",
  scope: 'webhooks:admin',
  rateLimit: 'read',
  request: { query: WebhookEndpointListQuerySchema },
  responses: {
    200: { description: 'A page of webhook endpoints.', content: { 'application/json': { schema: WebhookEndpointListSchema } } },
  },
});

export const listWebhookEndpoints: AppRouteHandler<typeof listWebhookEndpointsRoute> = async (c) => {
  const { limit, cursor } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const read = (after: CursorPosition | undefined) => webhookEndpoints.listWebhookEndpoints(c.get('config').db, orgId, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentWebhookEndpoint), 200);
};
