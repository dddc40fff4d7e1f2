import * as organizations from '../../db/organizations.ts';
import { RequestSigningSchema } from '../../schemas/signing-keys.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';

export const getRequestSigningRoute = defineRoute({
  method: 'get',
  path: '/v1/organization/request-signing',
  operationId: 'getRequestSigning',
  tags: ['Request signing'],
  summary: 'Get the request-signing policy',
  description: 'Whether the organisation requires its sensitive operations to be signed (RFC 9421) by one of its signing keys.',
  scope: 'organization:admin',
  rateLimit: 'read',
  responses: {
    200: { description: 'The policy.', content: { 'application/json': { schema: RequestSigningSchema } } },
  },
});

export const getRequestSigning: AppRouteHandler<typeof getRequestSigningRoute> = async (c) => {
  const { orgId } = c.get('auth');
  // The API key that authenticated is the organisation's, so the organisation exists.
  const required = (await organizations.requiresSignedRequests(c.get('config').db, orgId)) ?? false;
  return c.json({ required }, 200);
};
