import * as auditEvents from '../../db/audit-events.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { AuditEventListSchema, AuditEventQuerySchema } from '../../schemas/audit-events.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentAuditEvent } from './present.ts';

const LIST = 'audit_events';

export const listAuditEventsRoute = defineRoute({
  method: 'get',
  path: '/v1/audit-events',
  operationId: 'listAuditEvents',
  tags: ['Audit log'],
  summary: 'List audit events',
  description: 'Every change in the organisation, oldest first, filtered by action, target and time range.',
  scope: 'audit:read',
  rateLimit: 'read',
  request: { query: AuditEventQuerySchema },
  responses: {
    200: { description: 'A page of events.', content: { 'application/json': { schema: AuditEventListSchema } } },
  },
});

export const listAuditEvents: AppRouteHandler<typeof listAuditEventsRoute> = async (c) => {
  const { limit, cursor, action, target_type, target_id, since, until } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const filter = { action, targetType: target_type, targetId: target_id, since, until };
  // The cursor is bound to the list, not the filters: a client changing filters mid-way only changes what it sees next.
  const read = (after: CursorPosition | undefined) => auditEvents.listAuditEvents(c.get('config').db, orgId, filter, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentAuditEvent), 200);
};
