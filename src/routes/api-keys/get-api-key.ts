import { ApiKeyPathSchema, ApiKeySchema } from '../../schemas/api-keys.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadApiKey } from './load.ts';
import { presentApiKey } from './present.ts';

export const getApiKeyRoute = defineRoute({
  method: 'get',
  path: '/v1/api-keys/{id}',
  operationId: 'getApiKey',
  tags: ['API keys'],
  summary: 'Get an API key',
  description: 'A key of the calling organisation, without its secret. Revoked keys are not found.',
  scope: 'keys:admin',
  rateLimit: 'read',
  request: { params: ApiKeyPathSchema },
  responses: {
    200: { description: 'The key.', content: { 'application/json': { schema: ApiKeySchema } } },
  },
});

export const getApiKey: AppRouteHandler<typeof getApiKeyRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const key = await loadApiKey(c.get('config').db, c.get('auth').orgId, id);
  return c.json(presentApiKey(key), 200);
};
