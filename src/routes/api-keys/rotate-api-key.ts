import * as apiKeyCache from '../../db/api-key-cache.ts';
import * as apiKeys from '../../db/api-keys.ts';
import { ApiError } from '../../errors.ts';
import { generateApiKey } from '../../lib/api-key.ts';
import { isoAfter } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { ApiKeyPathSchema, ApiKeyRotateSchema, ApiKeyWithSecretSchema } from '../../schemas/api-keys.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { disconnectApiKey } from '../sessions/room.ts';
import { requireKeyWithinCaller } from './authorize.ts';
import { loadApiKey } from './load.ts';
import { apiKeyLocation, presentApiKey } from './present.ts';

export const rotateApiKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/api-keys/{id}/rotate',
  operationId: 'rotateApiKey',
  tags: ['API keys'],
  summary: 'Rotate an API key',
  description:
    'Creates a new key with the same name, scopes, mode and expiry, and retires the old one: it keeps working for the grace period (never past its own expiry), or expires at once with a grace period of 0. Connect tokens the old key minted are refused at connect once it has expired; with a grace period of 0, the session sockets opened with them are also closed at once with close code 4004, as on revocation (after a grace period they stay open). The old key stays readable, with its new `expires_at`, until revoked. A key can be rotated once; rotate its replacement next time. The calling key must hold every scope of the key it rotates, since it receives the new secret.',
  scope: 'keys:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: {
    params: ApiKeyPathSchema,
    body: { required: true, content: { 'application/json': { schema: ApiKeyRotateSchema } } },
  },
  responses: {
    201: {
      description: 'The new key, with its secret.',
      headers: locationHeader("The new key's URL."),
      content: { 'application/json': { schema: ApiKeyWithSecretSchema } },
      links: {
        GetRotatedApiKey: { operationId: 'getApiKey', parameters: { id: '$response.body#/id' }, description: 'Read the new key.' },
      },
    },
    403: problemResponse('The API key lacks `keys:admin`, or a scope of the key it would rotate (`insufficient_scope`).'),
    409: problemResponse('The key was already rotated (`key_already_rotated`).'),
  },
});

export const authorizeRotateApiKey: RouteAuthorizer<typeof rotateApiKeyRoute> = (c) =>
  requireKeyWithinCaller(c, c.req.valid('param').id, 'rotate');

export const rotateApiKey: AppRouteHandler<typeof rotateApiKeyRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { grace_period_seconds: graceSeconds } = c.req.valid('json');
  const auth = c.get('auth');
  const { db } = c.get('config');
  const old = await loadApiKey(db, auth.orgId, id);
  if (old.rotatedTo !== null)
    throw new ApiError('key_already_rotated', { detail: `API key ${id} was already replaced by ${old.rotatedTo}.` });

  const now = new Date();
  const nowText = now.toISOString();
  const generated = await generateApiKey(old.mode);
  const replacement: apiKeys.NewApiKey = {
    ...old,
    id: newId('apiKey'),
    prefix: generated.prefix,
    hash: generated.hash,
    createdAt: nowText,
    createdBy: auth.keyId,
    lastUsedAt: null,
    rotatedTo: null,
  };
  const graceEnd = isoAfter(graceSeconds * 1000, now);
  // As retireRotatedKey leaves it: an earlier expiry stands.
  const retired = { ...old, expiresAt: old.expiresAt !== null && old.expiresAt < graceEnd ? old.expiresAt : graceEnd };
  const rotated = await commit(
    c,
    {
      statements: [
        apiKeys.retireRotatedKey(db, auth.orgId, id, replacement.id, graceEnd),
        apiKeys.insertReplacementApiKey(db, replacement, id),
        await auditEvent(c, 'api_key.rotated', id, nowText, { onlyIfChanged: true }),
        changeEvent(c, 'api_key.rotated', { ...presentApiKey(retired), replaced_by: replacement.id }, nowText, { onlyIfChanged: true }),
      ],
      conditional: true,
      afterCommit: async () => {
        apiKeyCache.forgetKey(id);
        // Expired at once, the old key is as good as revoked; after a grace period its sockets stay.
        if (graceSeconds === 0) await disconnectApiKey(c, id);
      },
    },
    {
      status: 201,
      headers: { Location: apiKeyLocation(replacement.id) },
      json: { ...presentApiKey(replacement), secret: generated.secret },
    },
  );
  if (rotated) return rotated;
  // Revoked or rotated by another request since it was read: nothing was written.
  throw new ApiError('key_already_rotated', { detail: `API key ${id} changed during the rotation; read it again.` });
};
