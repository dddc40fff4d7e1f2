import { revokeApiKey as revoke } from '../../db/api-keys.ts';
import { insertAuditEvent } from '../../db/audit-events.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { ApiKeyPathSchema } from '../../schemas/api-keys.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';

export const revokeApiKeyRoute = defineRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['API keys'],
  summary: 'Revoke an API key',
  description: 'The key stops working at once and is no longer found. A key may revoke itself. Revoking it again is a 404.',
  scope: 'keys:admin',
  rateLimit: 'write',
  request: { params: ApiKeyPathSchema },
  responses: {
    204: { description: 'Revoked.' },
  },
});

export const revokeApiKey: AppRouteHandler<typeof revokeApiKeyRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const now = nowIso();
  const [revoked] = await db.batch([
    revoke(db, orgId, id, now),
    insertAuditEvent(
      db,
      await auditContext(c),
      { action: 'api_key.revoked', targetType: 'api_key', targetId: id, at: now },
      { onlyIfChanged: true },
    ),
  ]);
  if (revoked?.meta.changes !== 1) throw new ApiError('not_found', { detail: `No API key ${id}.` });
  return c.body(null, 204);
};
