import { FILTERED_PAGE_SCAN_ROWS } from '../../db/page.ts';
import * as sessions from '../../db/sessions.ts';
import { nowIso } from '../../lib/clock.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { SessionListQuerySchema, SessionListSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentSession } from './present.ts';

const LIST = 'sessions';

export const listSessionsRoute = defineRoute({
  method: 'get',
  path: '/v1/sessions',
  operationId: 'listSessions',
  tags: ['Sessions'],
  summary: 'List sessions',
  description:
    "The organisation's sessions, oldest first, a page at a time, optionally only `active` or `ended` ones. " +
    `A filtered page examines at most ${FILTERED_PAGE_SCAN_ROWS.toLocaleString('en')} sessions, so it can hold fewer than \`limit\` (even none) and still have a \`next_cursor\`: follow it until it is \`null\`.`,
  scope: 'sessions:read',
  rateLimit: 'read',
  request: { query: SessionListQuerySchema },
  responses: {
    200: { description: 'A page of sessions.', content: { 'application/json': { schema: SessionListSchema } } },
  },
});

export const listSessions: AppRouteHandler<typeof listSessionsRoute> = async (c) => {
  const { limit, cursor, status } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const now = nowIso();
  const read = (after: CursorPosition | undefined) => sessions.listSessions(c.get('config').db, orgId, { status, now }, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, (session) => presentSession(session, now)), 200);
};
