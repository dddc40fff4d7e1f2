import { SessionParticipantListSchema, SessionPathSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadSession } from './load.ts';
import { callRoom } from './room.ts';

export const listParticipantsRoute = defineRoute({
  method: 'get',
  path: '/v1/sessions/{id}/participants',
  operationId: 'listSessionParticipants',
  tags: ['Sessions'],
  summary: 'List connected participants',
  description: 'The connections open on the session right now.',
  scope: 'sessions:read',
  rateLimit: 'read',
  request: { params: SessionPathSchema },
  responses: {
    200: { description: 'The open connections.', content: { 'application/json': { schema: SessionParticipantListSchema } } },
  },
});

export const listParticipants: AppRouteHandler<typeof listParticipantsRoute> = async (c) => {
  const { id } = c.req.valid('param');
  await loadSession(c.get('config').db, c.get('auth').orgId, id);
  const participants = await callRoom(c, id, (room) => room.participants(), { repeatable: true });
  return c.json(
    {
      data: participants.map((entry) => ({
        participant: entry.participant,
        connected_at: entry.connectedAt,
        last_ack_seq: entry.lastAckSeq,
      })),
    },
    200,
  );
};
