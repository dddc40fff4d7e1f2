import { versionEtag } from '../../lib/etag.ts';
import { ORGANIZATION_ETAG_HEADER, OrganizationSchema } from '../../schemas/organization.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadOrganization, presentOrganization } from './present.ts';

export const getOrganizationRoute = defineRoute({
  method: 'get',
  path: '/v1/organization',
  operationId: 'getOrganization',
  tags: ['Organization'],
  summary: 'Get the organisation',
  description: 'The organisation the API key belongs to, with its `ETag`: its name, plan and default API version.',
  scope: 'organization:read',
  rateLimit: 'read',
  responses: {
    200: {
      description: 'The organisation.',
      headers: ORGANIZATION_ETAG_HEADER,
      content: { 'application/json': { schema: OrganizationSchema } },
    },
    404: problemResponse('The organisation no longer exists (`not_found`).'),
  },
});

export const getOrganization: AppRouteHandler<typeof getOrganizationRoute> = async (c) => {
  const org = await loadOrganization(c.get('config').db, c.get('auth').orgId);
  c.header('ETag', versionEtag(org.version));
  return c.json(presentOrganization(org), 200);
};
