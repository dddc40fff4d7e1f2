import type { z } from '@hono/zod-openapi';
import { DEFAULT_HISTORY_PAGE, SessionHistoryQuerySchema, SessionHistorySchema, SessionPathSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadSession } from './load.ts';
import { callRoom, roomSettingsOf } from './room.ts';

export const listSessionMessagesRoute = defineRoute({
  method: 'get',
  path: '/v1/sessions/{id}/messages',
  operationId: 'listSessionMessages',
  tags: ['Sessions'],
  summary: 'Read the session history',
  description: [
    "The session's messages and presence events after `after_seq`, oldest first, exactly as they were broadcast: read from the session's room, the same store the socket replays from, so history and the live stream meet with no gap and no overlap (read up to `last_seq`, then resume the socket with `last_seq`).",
    "Kept as the session's `history` says (by plan: free 1 day / 10,000 messages, pro 7 days / 100,000, enterprise 30 days / 1,000,000, whichever comes first); `earliest_seq` says where what is kept begins. An ended session's history is erased a day after it ends.",
  ].join('\n\n'),
  scope: 'sessions:read',
  rateLimit: 'read',
  request: { params: SessionPathSchema, query: SessionHistoryQuerySchema },
  responses: {
    200: { description: 'A page of the history.', content: { 'application/json': { schema: SessionHistorySchema } } },
  },
});

export const listSessionMessages: AppRouteHandler<typeof listSessionMessagesRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { after_seq: afterSeq = 0, limit = DEFAULT_HISTORY_PAGE } = c.req.valid('query');
  const session = await loadSession(c.get('config').db, c.get('auth').orgId, id);
  const page = await callRoom(c, id, (room) => room.history(roomSettingsOf(session), afterSeq, limit), { repeatable: true });
  const lastListed = page.messages.at(-1)?.seq;
  // Typed as the schema's own output: over RPC `unknown` payloads come back typed `{} | null`.
  const history: z.infer<typeof SessionHistorySchema> = {
    data: page.messages,
    epoch: page.epoch,
    earliest_seq: page.earliestSeq,
    last_seq: page.lastSeq,
    next_after_seq: lastListed !== undefined && lastListed < page.lastSeq ? lastListed : null,
  };
  return c.json(history, 200);
};
