import * as sessions from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { MAX_FRAME_BYTES, SessionMessageSchema } from '../../schemas/realtime.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { SessionPathSchema, SessionPublishSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadSession } from './load.ts';
import { callRoom, refusalError } from './room.ts';

export const publishMessageRoute = defineRoute({
  method: 'post',
  path: '/v1/sessions/{id}/messages',
  operationId: 'publishSessionMessage',
  tags: ['Sessions'],
  summary: 'Publish a server message',
  description: 'Broadcasts a message from `server` to every connected participant, sequenced with their own messages and kept for replay.',
  scope: 'sessions:write',
  rateLimit: 'write',
  idempotent: 'claim',
  request: {
    params: SessionPathSchema,
    body: { required: true, content: { 'application/json': { schema: SessionPublishSchema } } },
  },
  responses: {
    202: {
      description: 'Sequenced and sent to every connected participant: the envelope exactly as they received it.',
      content: { 'application/json': { schema: SessionMessageSchema } },
    },
    409: problemResponse('The session has ended (`session_ended`).'),
  },
});

export const publishMessage: AppRouteHandler<typeof publishMessageRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { payload } = c.req.valid('json');
  if (new TextEncoder().encode(JSON.stringify(payload)).byteLength > MAX_FRAME_BYTES) {
    throw new ApiError('payload_too_large', { detail: `A message payload must not exceed ${MAX_FRAME_BYTES} bytes.` });
  }
  const session = sessions.effectiveSession(await loadSession(c.get('config').db, c.get('auth').orgId, id), nowIso());
  if (session.status === 'ended') throw refusalError('session_ended', id);
  // Never repeated: a publish whose reply was lost may have been broadcast.
  const published = await callRoom(c, id, async (room) => await room.publish(payload), {
    repeatable: false,
    effect: 'The message may have been sent: read the session before publishing it again.',
  });
  if ('refused' in published) throw refusalError(published.refused, id);
  return c.json(published, 202);
};
