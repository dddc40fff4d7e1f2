import * as events from '../../db/events.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { EventListQuerySchema, EventListSchema } from '../../schemas/events.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { readableEventTypes, retainedSince } from './authorize.ts';
import { presentEvent } from './present.ts';

const LIST = 'events';

export const listEventsRoute = defineRoute({
  method: 'get',
  path: '/v1/events',
  operationId: 'listEvents',
  tags: ['Events'],
  summary: 'List events',
  description:
    'The events of the last 30 days, oldest first: the same ones webhooks deliver, for a receiver that was down or prefers to pull. Only the types the key may read are listed (`device.*` needs `devices:read`, `session.*` `sessions:read`, `api_key.*` `keys:admin`).',
  scope: 'events:read',
  rateLimit: 'read',
  request: { query: EventListQuerySchema },
  responses: {
    200: { description: 'A page of events.', content: { 'application/json': { schema: EventListSchema } } },
    403: problemResponse('The API key lacks `events:read`, or the scope of the `type` asked for (`insufficient_scope`).'),
  },
});

export const listEvents: AppRouteHandler<typeof listEventsRoute> = async (c) => {
  const { limit, cursor, type, since, until } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const filter = { types: readableEventTypes(c, type), since: retainedSince(since), until };
  // The cursor is bound to the list, not the filters, as for audit events.
  const read = (after: CursorPosition | undefined) => events.listEvents(c.get('config').db, orgId, filter, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentEvent), 200);
};
