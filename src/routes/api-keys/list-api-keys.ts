import * as apiKeys from '../../db/api-keys.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { ApiKeyListSchema } from '../../schemas/api-keys.ts';
import { PaginationQuerySchema } from '../../schemas/common.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentApiKey } from './present.ts';

const LIST = 'api_keys';

export const listApiKeysRoute = defineRoute({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  tags: ['API keys'],
  summary: 'List API keys',
  description: "The organisation's keys that are not revoked, oldest first, a page at a time.",
  scope: 'keys:admin',
  rateLimit: 'read',
  request: { query: PaginationQuerySchema.strict() },
  responses: {
    200: { description: 'A page of keys.', content: { 'application/json': { schema: ApiKeyListSchema } } },
  },
});

export const listApiKeys: AppRouteHandler<typeof listApiKeysRoute> = async (c) => {
  const { limit, cursor } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const read = (after: CursorPosition | undefined) => apiKeys.listApiKeys(c.get('config').db, orgId, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentApiKey), 200);
};
