/**
 * @module
 * Who did it, from where: the part of an audit event that comes from the request.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import type { AuditContext } from '../db/audit-events.ts';
import { clientIp, hashIp } from '../lib/client-ip.ts';

const MAX_USER_AGENT_LENGTH = 256;

export async function auditContext(c: Context<AppEnv>): Promise<AuditContext> {
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
