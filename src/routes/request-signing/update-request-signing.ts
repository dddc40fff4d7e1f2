import * as apiKeyCache from '../../db/api-key-cache.ts';
import * as organizations from '../../db/organizations.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { verifyRequestSignature } from '../../middleware/request-signature.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { RequestSigningSchema } from '../../schemas/signing-keys.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';

export const updateRequestSigningRoute = defineRoute({
  method: 'put',
  path: '/v1/organization/request-signing',
  operationId: 'updateRequestSigning',
  tags: ['Request signing'],
  summary: 'Set the request-signing policy',
  description: [
    'Sets whether the organisation requires its sensitive operations to be signed (RFC 9421) by one of its signing keys: creating, rotating and revoking API keys; creating, changing, deleting and rotating the secret of webhook endpoints, resending and recovering their deliveries; registering and revoking signing keys; this policy; exports and erasure.',
    'Turning the requirement on must itself be signed by a registered signing key, whatever the policy is: the request proves that a signer can sign before the organisation depends on it, so an organisation cannot lock itself out with a key it cannot use. Once it is on, every change to it (turning it off above all) must be signed too, so a stolen API key cannot simply turn it off.',
    'It applies at once on the Worker instance that answers, and within 30 s on every other (each trusts what it read with an API key for up to 30 s).',
  ].join('\n\n'),
  scope: 'organization:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: { body: { required: true, content: { 'application/json': { schema: RequestSigningSchema } } } },
  responses: {
    200: { description: 'The policy, as set.', content: { 'application/json': { schema: RequestSigningSchema } } },
    409: problemResponse('The organisation has no signing key that is not revoked, so it cannot require signatures (`no_signing_key`).'),
  },
});

/** Turning the requirement on needs a signature even while it is off (when it is on, the route's own check has verified one). */
export const authorizeUpdateRequestSigning: RouteAuthorizer<typeof updateRequestSigningRoute> = async (c) => {
  if (c.req.valid('json').required) await verifyRequestSignature(c);
};

export const updateRequestSigning: AppRouteHandler<typeof updateRequestSigningRoute> = async (c) => {
  const { required } = c.req.valid('json');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const now = nowIso();
  const updated = await commit(
    c,
    {
      statements: [
        organizations.setRequireSignedRequests(db, orgId, required),
        await auditEvent(c, 'request_signing.updated', orgId, now, { onlyIfChanged: true }),
        changeEvent(c, 'request_signing.updated', { required }, now, { onlyIfChanged: true }),
      ],
      conditional: true,
      // This isolate's cached API keys carry the old policy: the next request reads the new one.
      afterCommit: () => apiKeyCache.forgetOrganization(orgId),
    },
    { status: 200, json: { required } },
  );
  if (updated) return updated;
  throw new ApiError('no_signing_key', {
    detail: 'The organisation has no signing key that is not revoked: register one, then turn the requirement on with a request it signs.',
  });
};
