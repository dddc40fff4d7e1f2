import * as events from '../../db/events.ts';
import { notFound } from '../../errors.ts';
import { EventPathSchema, EventSchema } from '../../schemas/events.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { requireEventTypeReadable, retainedSince } from './authorize.ts';
import { presentEvent } from './present.ts';

export const getEventRoute = defineRoute({
  method: 'get',
  path: '/v1/events/{id}',
  operationId: 'getEvent',
  tags: ['Events'],
  summary: 'Get an event',
  description: "One event of the last 30 days, as a webhook delivers it (its `id` is the delivery's `webhook-id`).",
  scope: 'events:read',
  rateLimit: 'read',
  request: { params: EventPathSchema },
  responses: {
    200: { description: 'The event.', content: { 'application/json': { schema: EventSchema } } },
    403: problemResponse('The API key lacks `events:read`, or the scope that reads events of this type (`insufficient_scope`).'),
  },
});

export const getEvent: AppRouteHandler<typeof getEventRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const event = await events.getEvent(c.get('config').db, c.get('auth').orgId, id);
  // Past the retention window an event is gone, whether or not the hourly purge has reached it yet.
  if (!event || event.createdAt < retainedSince(undefined)) throw notFound('event', id);
  requireEventTypeReadable(c, event.type);
  return c.json(presentEvent(event), 200);
};
