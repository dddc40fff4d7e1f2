import { ExportPathSchema, OrganizationExportSchema } from '../../schemas/organization-exports.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadExport } from './load.ts';
import { presentExport } from './present.ts';

export const getOrganizationExportRoute = defineRoute({
  method: 'get',
  path: '/v1/organization/exports/{id}',
  operationId: 'getOrganizationExport',
  tags: ['Organization exports'],
  summary: 'Get an export',
  description: 'The export: its status, the lines written so far per resource, and, once it has succeeded, where to download it.',
  scope: 'organization:export',
  rateLimit: 'read',
  request: { params: ExportPathSchema },
  responses: {
    200: {
      description: 'The export.',
      content: { 'application/json': { schema: OrganizationExportSchema } },
      links: {
        GetOrganizationExportArchive: {
          operationId: 'getOrganizationExportArchive',
          parameters: { id: '$response.body#/id' },
          description: 'Download its archive, once it has succeeded.',
        },
      },
    },
  },
});

export const getOrganizationExport: AppRouteHandler<typeof getOrganizationExportRoute> = async (c) => {
  const record = await loadExport(c.get('config').db, c.get('auth').orgId, c.req.valid('param').id);
  // Polled while it runs: a cached copy would show stale progress.
  c.header('Cache-Control', 'no-store');
  return c.json(presentExport(record), 200);
};
