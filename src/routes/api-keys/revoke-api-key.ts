import * as apiKeyCache from '../../db/api-key-cache.ts';
import * as apiKeys from '../../db/api-keys.ts';
import { ApiError, notFound } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { ApiKeyPathSchema } from '../../schemas/api-keys.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { disconnectApiKey } from '../sessions/room.ts';
import { requireKeyWithinCaller } from './authorize.ts';
import { loadApiKey } from './load.ts';
import { presentApiKey } from './present.ts';

export const revokeApiKeyRoute = defineRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['API keys'],
  summary: 'Revoke an API key',
  description:
    "The key stops working at once on the Worker instance that answers, and within 30 s on every other (each trusts what it read about a key for at most 30 s); it is no longer found; revoking it again is a 404. Session sockets opened with connect tokens it minted are closed at once with close code 4004, and its unused tokens are refused at connect. A key cannot revoke itself (409): that would end the caller's access half-way through its work. Revoke it with another `keys:admin` key, or rotate it with `grace_period_seconds: 0`. The calling key must hold every scope of the key it revokes, so a narrow `keys:admin` key cannot lock out wider ones.",
  scope: 'keys:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: { params: ApiKeyPathSchema },
  responses: {
    204: { description: 'Revoked.' },
    403: problemResponse('The API key lacks `keys:admin`, or a scope of the key it would revoke (`insufficient_scope`).'),
    409: problemResponse('The key named is the one making the request (`cannot_revoke_self`).'),
  },
});

export const authorizeRevokeApiKey: RouteAuthorizer<typeof revokeApiKeyRoute> = (c) =>
  requireKeyWithinCaller(c, c.req.valid('param').id, 'revoke');

export const revokeApiKey: AppRouteHandler<typeof revokeApiKeyRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { orgId, keyId } = c.get('auth');
  if (id === keyId) {
    throw new ApiError('cannot_revoke_self', {
      detail: 'An API key cannot revoke itself: revoke it with another keys:admin key, or rotate it with grace_period_seconds 0.',
    });
  }
  const { db } = c.get('config');
  const current = await loadApiKey(db, orgId, id);
  const now = nowIso();
  const revoked = await commit(
    c,
    {
      statements: [
        apiKeys.revokeApiKey(db, orgId, id, now),
        await auditEvent(c, 'api_key.revoked', id, now, { onlyIfChanged: true }),
        changeEvent(c, 'api_key.revoked', presentApiKey(current), now, { onlyIfChanged: true }),
      ],
      conditional: true,
      afterCommit: async () => {
        apiKeyCache.forgetKey(id);
        await disconnectApiKey(c, id);
      },
    },
    { status: 204 },
  );
  if (revoked) return revoked;
  throw notFound('API key', id);
};
