/**
 * @module
 * Audit events from a request: who did it and from where come from the request, what happened
 * from the handler. Every handler's event goes through {@link auditEvent}.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import * as auditEvents from '../db/audit-events.ts';
import { clientIp, hashIp } from '../lib/client-ip.ts';
import type { AuditAction, AuditTargetType } from '../schemas/audit-events.ts';

const MAX_USER_AGENT_LENGTH = 256;

async function auditContext(c: Context<AppEnv>): Promise<auditEvents.AuditContext> {
  const auth = c.get('auth');
  const ip = clientIp(c.req.raw);
  return {
    orgId: auth.orgId,
    actorKeyId: auth.keyId,
    requestId: c.get('requestId'),
    ipHash: ip === 'unknown' ? null : await hashIp(ip, c.get('config').sessionJwtSecret),
    userAgent: c.req.header('User-Agent')?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
  };
}

/** An action names its target's type before the dot (`device.updated` → `device`). */
function targetTypeOf(action: AuditAction): AuditTargetType {
  return action.slice(0, action.indexOf('.')) as AuditTargetType;
}

/**
 * The INSERT of the event that records this request's change, for the change's own batch. With
 * `onlyIfChanged`, it is written only if the statement before it changed a row.
 */
export async function auditEvent(
  c: Context<AppEnv>,
  action: AuditAction,
  targetId: string,
  at: string,
  options: { onlyIfChanged?: boolean } = {},
): Promise<D1PreparedStatement> {
  const change = { action, targetType: targetTypeOf(action), targetId, at };
  return auditEvents.insertAuditEvent(c.get('config').db, await auditContext(c), change, options);
}
