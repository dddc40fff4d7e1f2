import * as apiKeys from '../../db/api-keys.ts';
import { generateApiKey } from '../../lib/api-key.ts';
import { isoAfter, nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { ApiKeyCreateSchema, ApiKeyWithSecretSchema } from '../../schemas/api-keys.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { requireExpiryWithinCaller, requireScopesWithinCaller } from './authorize.ts';
import { apiKeyLocation, presentApiKey } from './present.ts';

export const createApiKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  tags: ['API keys'],
  summary: 'Create an API key',
  description:
    "Creates a key in the calling key's organisation and mode. Its scopes must be a subset of the calling key's, and it may not outlive the calling key. The secret is in this response only.",
  scope: 'keys:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: {
    body: { required: true, content: { 'application/json': { schema: ApiKeyCreateSchema } } },
  },
  responses: {
    403: problemResponse(
      'The API key lacks `keys:admin`, or a scope asked for (`insufficient_scope`), or the new key would outlive it (`key_outlives_caller`).',
    ),
    201: {
      description: 'The key, with its secret.',
      headers: locationHeader("The new key's URL."),
      content: { 'application/json': { schema: ApiKeyWithSecretSchema } },
      links: {
        GetApiKey: { operationId: 'getApiKey', parameters: { id: '$response.body#/id' }, description: 'Read the new key.' },
        RotateApiKey: { operationId: 'rotateApiKey', parameters: { id: '$response.body#/id' }, description: 'Rotate the new key.' },
        RevokeApiKey: { operationId: 'revokeApiKey', parameters: { id: '$response.body#/id' }, description: 'Revoke the new key.' },
      },
    },
  },
});

function expiryOf(expiresInSeconds: number | undefined, now: Date): string | null {
  return expiresInSeconds === undefined ? null : isoAfter(expiresInSeconds * 1000, now);
}

export const authorizeCreateApiKey: RouteAuthorizer<typeof createApiKeyRoute> = async (c) => {
  const input = c.req.valid('json');
  const auth = c.get('auth');
  requireScopesWithinCaller(auth, input.scopes, 'create');
  requireExpiryWithinCaller(auth, expiryOf(input.expires_in_seconds, new Date()));
};

export const createApiKey: AppRouteHandler<typeof createApiKeyRoute> = async (c) => {
  const input = c.req.valid('json');
  const auth = c.get('auth');
  const now = nowIso();
  const generated = await generateApiKey(auth.mode);
  const key: apiKeys.NewApiKey = {
    id: newId('apiKey'),
    orgId: auth.orgId,
    name: input.name,
    mode: auth.mode,
    prefix: generated.prefix,
    hash: generated.hash,
    scopes: input.scopes,
    expiresAt: expiryOf(input.expires_in_seconds, new Date(now)),
    createdAt: now,
    createdBy: auth.keyId,
    lastUsedAt: null,
    rotatedTo: null,
  };
  const { db } = c.get('config');
  return commit(
    c,
    {
      statements: [
        apiKeys.insertApiKey(db, key),
        await auditEvent(c, 'api_key.created', key.id, now),
        changeEvent(c, 'api_key.created', presentApiKey(key), now),
      ],
    },
    { status: 201, headers: { Location: apiKeyLocation(key.id) }, json: { ...presentApiKey(key), secret: generated.secret } },
  );
};
