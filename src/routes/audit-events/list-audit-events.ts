import { listAuditEvents as queryAuditEvents } from '../../db/audit-events.ts';
import { AuditEventListSchema, AuditEventQuerySchema } from '../../schemas/audit-events.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { nextCursor, positionAfter } from '../pagination.ts';

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
  // The cursor is bound to the list, not the filters: a client changing filters mid-way only changes what it sees next.
  const after = positionAfter(cursor, orgId, LIST);
  const { events, hasMore } = await queryAuditEvents(
    c.get('config').db,
    orgId,
    { action, targetType: target_type, targetId: target_id, since, until },
    limit,
    after,
  );
  return c.json(
    {
      data: events.map((event) => ({
        id: event.id,
        action: event.action,
        target_type: event.targetType,
        target_id: event.targetId,
        actor_key_id: event.actorKeyId,
        request_id: event.requestId,
        ip_hash: event.ipHash,
        user_agent: event.userAgent,
        created_at: event.createdAt,
      })),
      next_cursor: nextCursor(orgId, LIST, events, hasMore),
    },
    200,
  );
};
