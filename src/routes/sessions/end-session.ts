import * as sessions from '../../db/sessions.ts';
import { nowIso } from '../../lib/clock.ts';
import { SessionPathSchema, SessionSchema } from '../../schemas/sessions.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { loadSession } from './load.ts';
import { presentSession } from './present.ts';
import { callRoom } from './room.ts';

const ENDED_IN_DATABASE = 'The session is ended (no new token or connection is accepted); repeat the request to close its open sockets.';

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
  const current = await loadSession(db, orgId, id);
  const now = nowIso();
  const presented = presentSession({ ...current, endedAt: now, endReason: 'ended' }, now);
  const ended = await commit(
    c,
    {
      statements: [
        sessions.endSession(db, orgId, id, now),
        await auditEvent(c, 'session.ended', id, now, { onlyIfChanged: true }),
        changeEvent(c, 'session.ended', presented, now, { onlyIfChanged: true }),
      ],
      conditional: true,
      // After the D1 change is durable: closes every socket.
      afterCommit: () => callRoom(c, id, (room) => room.end('ended'), { repeatable: true, effect: ENDED_IN_DATABASE }),
    },
    { status: 200, json: presented },
  );
  if (ended) return ended;
  // It had ended already: the answer is the session as it ended. The room is told again (that is
  // idempotent), so a retry after a failure to reach it still closes every socket.
  await callRoom(c, id, (room) => room.end('ended'), { repeatable: true, effect: ENDED_IN_DATABASE });
  return c.json(presentSession(await loadSession(db, orgId, id), now), 200);
};
