/**
 * @module
 * Audit events as the API shows them.
 */
import type { z } from '@hono/zod-openapi';
import type * as auditEvents from '../../db/audit-events.ts';
import type { AuditEventSchema } from '../../schemas/audit-events.ts';

export function presentAuditEvent(event: auditEvents.AuditEventRecord): z.infer<typeof AuditEventSchema> {
  return {
    id: event.id,
    action: event.action,
    target_type: event.targetType,
    target_id: event.targetId,
    actor_key_id: event.actorKeyId,
    request_id: event.requestId,
    ip_hash: event.ipHash,
    user_agent: event.userAgent,
    created_at: event.createdAt,
  };
}
