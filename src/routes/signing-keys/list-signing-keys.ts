import * as signingKeys from '../../db/signing-keys.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { PaginationQuerySchema } from '../../schemas/common.ts';
import { SigningKeyListSchema } from '../../schemas/signing-keys.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentSigningKey } from './present.ts';

const LIST = 'signing_keys';

export const listSigningKeysRoute = defineRoute({
  method: 'get',
  path: '/v1/signing-keys',
  operationId: 'listSigningKeys',
  tags: ['Request signing'],
  summary: 'List signing keys',
  description: "The organisation's signing keys that are not revoked, oldest first, a page at a time.",
  scope: 'organization:admin',
  rateLimit: 'read',
  request: { query: PaginationQuerySchema.strict() },
  responses: {
    200: { description: 'A page of signing keys.', content: { 'application/json': { schema: SigningKeyListSchema } } },
  },
});

export const listSigningKeys: AppRouteHandler<typeof listSigningKeysRoute> = async (c) => {
  const { limit, cursor } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const read = (after: CursorPosition | undefined) => signingKeys.listSigningKeys(c.get('config').db, orgId, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentSigningKey), 200);
};
