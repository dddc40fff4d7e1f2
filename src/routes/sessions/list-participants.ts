import { z } from '@hono/zod-openapi';
import { TimestampSchema } from '../../schemas/common.ts';
import { SessionPathSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { findSession } from './present.ts';
import { roomFor } from './room.ts';

const ParticipantListSchema = z
  .object({
    data: z
      .array(
        z
          .object({
            participant: z.string().openapi({ description: 'The participant of the connection.', example: 'client:agent-7' }),
            connected_at: TimestampSchema.openapi({ description: 'When this connection opened.' }),
            last_ack_seq: z
              .int()
              .min(0)
              .openapi({ description: 'The highest `seq` the connection acknowledged (or resumed from).', example: 41 }),
          })
          .openapi('SessionParticipant', { description: 'One open connection to the session.' }),
      )
      .openapi({ description: 'Every open connection; a participant connected twice appears twice.' }),
  })
  .openapi('SessionParticipantList', { description: 'Who is connected now.' });

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
    200: { description: 'The open connections.', content: { 'application/json': { schema: ParticipantListSchema } } },
  },
});

export const listParticipants: AppRouteHandler<typeof listParticipantsRoute> = async (c) => {
  const { id } = c.req.valid('param');
  await findSession(c.get('config').db, c.get('auth').orgId, id);
  const participants = await roomFor(c, id).participants();
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
