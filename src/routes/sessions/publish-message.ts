import * as sessions from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { PUBLISH_ID_WINDOW, SessionMessageSchema } from '../../schemas/realtime.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { SessionPathSchema, SessionPublishSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadSession } from './load.ts';
import { callRoom, refusalError, roomSettingsOf } from './room.ts';

export const publishMessageRoute = defineRoute({
  method: 'post',
  path: '/v1/sessions/{id}/messages',
  operationId: 'publishSessionMessage',
  tags: ['Sessions'],
  summary: 'Publish a server message',
  description: [
    'Broadcasts a message from `server` to every connected participant, sequenced with their own messages and kept in the history.',
    `With an \`Idempotency-Key\`, the message is broadcast at most once however often the request is repeated: the room remembers the key for ${PUBLISH_ID_WINDOW.ms / 60_000} minutes (as a message \`id\` of \`server\`), so even a repeat after an answer that was lost, or after the key's own record was released by a failure, is answered with the first broadcast's \`seq\` and not sent again. Past those ${PUBLISH_ID_WINDOW.ms / 60_000} minutes a repeat is a new message.`,
  ].join('\n\n'),
  scope: 'sessions:write',
  rateLimit: 'write',
  idempotent: 'claim',
  request: {
    params: SessionPathSchema,
    body: { required: true, content: { 'application/json': { schema: SessionPublishSchema } } },
  },
  responses: {
    202: {
      description: 'Sequenced and sent to every connected participant: the envelope exactly as they received it (its `seq` included).',
      content: { 'application/json': { schema: SessionMessageSchema } },
    },
    409: problemResponse('The session has ended (`session_ended`).'),
    413: problemResponse("The payload is larger than the session's `max_frame_bytes` (`payload_too_large`)."),
  },
});

export const publishMessage: AppRouteHandler<typeof publishMessageRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { payload } = c.req.valid('json');
  const session = sessions.effectiveSession(await loadSession(c.get('config').db, c.get('auth').orgId, id), nowIso());
  if (new TextEncoder().encode(JSON.stringify(payload)).byteLength > session.maxFrameBytes) {
    throw new ApiError('payload_too_large', {
      detail: `A message payload in this session must not exceed ${session.maxFrameBytes} bytes.`,
    });
  }
  if (session.status === 'ended') throw refusalError('session_ended', id);
  // The key is the message's id in the room (keys are per organisation, and so is the session): a
  // call the room answered but whose reply was lost is then safe to make again.
  const messageId = c.req.header('Idempotency-Key');
  const published = await callRoom(c, id, async (room) => await room.publish(roomSettingsOf(session), payload, messageId), {
    repeatable: messageId !== undefined,
    effect:
      messageId === undefined
        ? 'The message may have been sent: read the session before publishing it again, or publish with an Idempotency-Key.'
        : 'Repeat the request with the same Idempotency-Key: the message is not sent twice.',
  });
  if ('refused' in published) throw refusalError(published.refused, id);
  return c.json(published.envelope, 202);
};
