import * as organizationExports from '../../db/organization-exports.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { PaginationQuerySchema } from '../../schemas/common.ts';
import { OrganizationExportListSchema } from '../../schemas/organization-exports.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentExport } from './present.ts';

const LIST = 'organization_exports';

export const listOrganizationExportsRoute = defineRoute({
  method: 'get',
  path: '/v1/organization/exports',
  operationId: 'listOrganizationExports',
  tags: ['Organization exports'],
  summary: 'List exports',
  description: "The organisation's exports, expired ones included, oldest first, a page at a time.",
  scope: 'organization:export',
  rateLimit: 'read',
  request: { query: PaginationQuerySchema.strict() },
  responses: {
    200: { description: 'A page of exports.', content: { 'application/json': { schema: OrganizationExportListSchema } } },
  },
});

export const listOrganizationExports: AppRouteHandler<typeof listOrganizationExportsRoute> = async (c) => {
  const { limit, cursor } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const read = (after: CursorPosition | undefined) => organizationExports.listExports(c.get('config').db, orgId, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentExport), 200);
};
