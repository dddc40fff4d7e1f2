import { insertApiKey, type NewApiKey } from '../../db/api-keys.ts';
import { insertAuditEvent } from '../../db/audit-events.ts';
import { ApiError } from '../../errors.ts';
import { generateApiKey } from '../../lib/api-key.ts';
import { isoAfter, nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { ApiKeyCreateSchema, ApiKeyWithSecretSchema } from '../../schemas/api-keys.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { apiKeyLocation, presentApiKey } from './present.ts';

export const createApiKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  tags: ['API keys'],
  summary: 'Create an API key',
  description:
    "Creates a key in the calling key's organisation and mode. Its scopes must be a subset of the calling key's. The secret is in this response only.",
  scope: 'keys:admin',
  rateLimit: 'write',
  idempotent: 'claim',
  request: {
    body: { required: true, content: { 'application/json': { schema: ApiKeyCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The key, with its secret.',
      headers: { Location: { description: "The new key's URL.", required: true, schema: { type: 'string' } } },
      content: { 'application/json': { schema: ApiKeyWithSecretSchema } },
      links: {
        GetApiKey: { operationId: 'getApiKey', parameters: { id: '$response.body#/id' }, description: 'Read the new key.' },
        RotateApiKey: { operationId: 'rotateApiKey', parameters: { id: '$response.body#/id' }, description: 'Rotate the new key.' },
        RevokeApiKey: { operationId: 'revokeApiKey', parameters: { id: '$response.body#/id' }, description: 'Revoke the new key.' },
      },
    },
  },
});

export const createApiKey: AppRouteHandler<typeof createApiKeyRoute> = async (c) => {
  const input = c.req.valid('json');
  const auth = c.get('auth');
  const beyondCaller = input.scopes.filter((scope) => !auth.scopes.includes(scope));
  if (beyondCaller.length > 0) {
    throw new ApiError('insufficient_scope', {
      detail: `A key cannot grant scopes it does not hold: ${beyondCaller.join(', ')}.`,
    });
  }
  const now = nowIso();
  const generated = await generateApiKey(auth.mode);
  const key: NewApiKey = {
    id: newId('apiKey'),
    orgId: auth.orgId,
    name: input.name,
    mode: auth.mode,
    prefix: generated.prefix,
    hash: generated.hash,
    scopes: input.scopes,
    expiresAt: input.expires_in_seconds === undefined ? null : isoAfter(input.expires_in_seconds * 1000),
    createdAt: now,
    createdBy: auth.keyId,
    lastUsedAt: null,
    rotatedTo: null,
  };
  const { db } = c.get('config');
  await db.batch([
    insertApiKey(db, key),
    insertAuditEvent(db, await auditContext(c), { action: 'api_key.created', targetType: 'api_key', targetId: key.id, at: now }),
  ]);
  c.header('Location', apiKeyLocation(key.id));
  return c.json({ ...presentApiKey(key), secret: generated.secret }, 201);
};
