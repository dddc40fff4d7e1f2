import { SigningKeyPathSchema, SigningKeySchema } from '../../schemas/signing-keys.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadSigningKey } from './load.ts';
import { presentSigningKey } from './present.ts';

export const getSigningKeyRoute = defineRoute({
  method: 'get',
  path: '/v1/signing-keys/{id}',
  operationId: 'getSigningKey',
  tags: ['Request signing'],
  summary: 'Get a signing key',
  description: 'A signing key of the calling organisation: its public key. Revoked keys are not found.',
  scope: 'organization:admin',
  rateLimit: 'read',
  request: { params: SigningKeyPathSchema },
  responses: {
    200: { description: 'The key.', content: { 'application/json': { schema: SigningKeySchema } } },
  },
});

export const getSigningKey: AppRouteHandler<typeof getSigningKeyRoute> = async (c) => {
  const key = await loadSigningKey(c.get('config').db, c.get('auth').orgId, c.req.valid('param').id);
  return c.json(presentSigningKey(key), 200);
};
