import * as webhookAttempts from '../../db/webhook-attempts.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { WebhookAttemptListSchema, WebhookAttemptQuerySchema } from '../../schemas/webhook-attempts.ts';
import { WebhookEndpointPathSchema } from '../../schemas/webhook-endpoints.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { loadWebhookEndpoint } from './load.ts';
import { presentWebhookAttempt } from './present.ts';

const LIST = 'webhook-attempts';

export const listWebhookAttemptsRoute = defineRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}/attempts',
  operationId: 'listWebhookAttempts',
  tags: ['Webhook endpoints'],
  summary: 'List delivery attempts',
  description:
    "Every HTTP request made to deliver events to the endpoint, oldest first: the outcome, the receiver's status, how long it took and when the event is sent again. Attempts are made immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each failure.",
  scope: 'webhooks:admin',
  rateLimit: 'read',
  request: { params: WebhookEndpointPathSchema, query: WebhookAttemptQuerySchema },
  responses: {
    200: { description: 'A page of attempts.', content: { 'application/json': { schema: WebhookAttemptListSchema } } },
  },
});

export const listWebhookAttempts: AppRouteHandler<typeof listWebhookAttemptsRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { limit, cursor, event_id: eventId } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  await loadWebhookEndpoint(db, orgId, id);
  // One list per endpoint: a cursor from another endpoint's attempts is refused like any other list's.
  const read = (after: CursorPosition | undefined) => webhookAttempts.listAttempts(db, orgId, id, { eventId }, limit, after);
  return c.json(await listBody(orgId, `${LIST}:${id}`, cursor, read, presentWebhookAttempt), 200);
};
