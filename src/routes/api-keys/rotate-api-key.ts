import { forgetKey } from '../../db/api-key-cache.ts';
import { getApiKey, insertReplacementApiKey, type NewApiKey, retireRotatedKey } from '../../db/api-keys.ts';
import { insertAuditEvent } from '../../db/audit-events.ts';
import { ApiError } from '../../errors.ts';
import { generateApiKey } from '../../lib/api-key.ts';
import { isoAfter, nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { ApiKeyPathSchema, ApiKeyRotateSchema, ApiKeyWithSecretSchema } from '../../schemas/api-keys.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { requireKeyWithinCaller } from './authorize.ts';
import { apiKeyLocation, presentApiKey } from './present.ts';

export const rotateApiKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/api-keys/{id}/rotate',
  operationId: 'rotateApiKey',
  tags: ['API keys'],
  summary: 'Rotate an API key',
  description:
    'Creates a new key with the same name, scopes, mode and expiry, and retires the old one: it keeps working for the grace period (never past its own expiry), or expires at once with a grace period of 0. The old key stays readable, with its new `expires_at`, until revoked. A key can be rotated once; rotate its replacement next time. The calling key must hold every scope of the key it rotates, since it receives the new secret.',
  scope: 'keys:admin',
  rateLimit: 'write',
  idempotent: 'claim',
  request: {
    params: ApiKeyPathSchema,
    body: { required: true, content: { 'application/json': { schema: ApiKeyRotateSchema } } },
  },
  responses: {
    201: {
      description: 'The new key, with its secret.',
      headers: { Location: { description: "The new key's URL.", required: true, schema: { type: 'string' } } },
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
  const old = await getApiKey(db, auth.orgId, id);
  if (!old) throw new ApiError('not_found', { detail: `No API key ${id}.` });
  if (old.rotatedTo !== null)
    throw new ApiError('key_already_rotated', { detail: `API key ${id} was already replaced by ${old.rotatedTo}.` });

  const now = new Date();
  const nowText = nowIso();
  const generated = await generateApiKey(old.mode);
  const replacement: NewApiKey = {
    ...old,
    id: newId('apiKey'),
    prefix: generated.prefix,
    hash: generated.hash,
    createdAt: nowText,
    createdBy: auth.keyId,
    lastUsedAt: null,
    rotatedTo: null,
  };
  const [retired] = await db.batch([
    retireRotatedKey(db, auth.orgId, id, replacement.id, isoAfter(graceSeconds * 1000, now)),
    insertReplacementApiKey(db, replacement, id),
    insertAuditEvent(
      db,
      await auditContext(c),
      { action: 'api_key.rotated', targetType: 'api_key', targetId: id, at: nowText },
      { onlyIfChanged: true },
    ),
  ]);
  // Revoked or rotated by another request since it was read: nothing was written.
  if (retired?.meta.changes !== 1)
    throw new ApiError('key_already_rotated', { detail: `API key ${id} changed during the rotation; read it again.` });
  forgetKey(id);
  c.header('Location', apiKeyLocation(replacement.id));
  return c.json({ ...presentApiKey(replacement), secret: generated.secret }, 201);
};
