import { nowIso } from '../../lib/clock.ts';
import { SessionPathSchema, SessionSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadSession } from './load.ts';
import { presentSession } from './present.ts';

export const getSessionRoute = defineRoute({
  method: 'get',
  path: '/v1/sessions/{id}',
  operationId: 'getSession',
  tags: ['Sessions'],
  summary: 'Get a session',
  description: 'A session of the organisation; past its `expires_at` it reads as ended (`end_reason: expired`).',
  scope: 'sessions:read',
  rateLimit: 'read',
  request: { params: SessionPathSchema },
  responses: {
    200: { description: 'The session.', content: { 'application/json': { schema: SessionSchema } } },
  },
});

export const getSession: AppRouteHandler<typeof getSessionRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const session = await loadSession(c.get('config').db, c.get('auth').orgId, id);
  return c.json(presentSession(session, nowIso()), 200);
};
