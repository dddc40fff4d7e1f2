import { insertAuditEvent } from '../../db/audit-events.ts';
import { endSession as markEnded } from '../../db/sessions.ts';
import { nowIso } from '../../lib/clock.ts';
import { SessionPathSchema, SessionSchema } from '../../schemas/sessions.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { findSession, presentSession } from './present.ts';
import { roomFor } from './room.ts';

export const endSessionRoute = defineRoute({
  method: 'post',
  path: '/v1/sessions/{id}/end',
  operationId: 'endSession',
  tags: ['Sessions'],
  summary: 'End a session',
  description:
    'Ends the session: no token is minted for it and no connection accepted any more. Ending an ended session changes nothing and answers the same.',
  scope: 'sessions:write',
  rateLimit: 'write',
  idempotent: 'claim',
  request: { params: SessionPathSchema },
  responses: {
    200: { description: 'The session, ended.', content: { 'application/json': { schema: SessionSchema } } },
  },
});

export const endSession: AppRouteHandler<typeof endSessionRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  await findSession(db, orgId, id);
  const now = nowIso();
  await db.batch([
    markEnded(db, orgId, id, now),
    insertAuditEvent(
      db,
      await auditContext(c),
      { action: 'session.ended', targetType: 'session', targetId: id, at: now },
      { onlyIfChanged: true },
    ),
  ]);
  // After the D1 change is durable: closes every socket. Idempotent, so a retried end repeats it.
  await roomFor(c, id).end('ended');
  return c.json(presentSession(await findSession(db, orgId, id), now), 200);
};
