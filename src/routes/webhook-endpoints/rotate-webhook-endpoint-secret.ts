import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import { ApiError } from '../../errors.ts';
import { isoAfter } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import { generateWebhookSecret } from '../../lib/webhook-secret.ts';
import { problemResponse } from '../../schemas/responses.ts';
import {
  PREVIOUS_SECRET_SECONDS,
  WEBHOOK_ENDPOINT_ETAG_HEADER,
  WebhookEndpointIfMatchHeaderSchema,
  WebhookEndpointPathSchema,
  WebhookEndpointWithSecretSchema,
} from '../../schemas/webhook-endpoints.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { requireEndpointWithinCaller } from './authorize.ts';
import { loadWebhookEndpointForChange } from './load.ts';
import { presentWebhookEndpoint } from './present.ts';
import { sealWebhookSecret } from './secrets.ts';

export const rotateWebhookEndpointSecretRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/rotate-secret',
  operationId: 'rotateWebhookEndpointSecret',
  tags: ['Webhook endpoints'],
  summary: "Rotate a webhook endpoint's secret",
  description: `Makes a new signing secret, shown in this response only. For ${PREVIOUS_SECRET_SECONDS / 3600} hours each delivery is signed with both the new secret and the one it replaces (two signatures in \`webhook-signature\`), so a receiver can switch without missing an event; \`previous_secret_expires_at\` says until when. Rotating again within that time replaces the previous secret with the one current until now: the older one stops signing at once. With \`If-Match\`, only if the endpoint has not changed since.`,
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: { params: WebhookEndpointPathSchema, headers: WebhookEndpointIfMatchHeaderSchema },
  responses: {
    200: {
      description: 'The endpoint, with its new signing secret.',
      headers: WEBHOOK_ENDPOINT_ETAG_HEADER,
      content: { 'application/json': { schema: WebhookEndpointWithSecretSchema } },
    },
    403: problemResponse(
      'The API key lacks `webhooks:admin`, or the scope to read an event type the endpoint receives (`insufficient_scope`, naming it).',
    ),
    409: problemResponse('The endpoint changed while the secret was rotated (`conflict`): try again.'),
    412: problemResponse('`If-Match` does not name the current version: read the endpoint again.'),
  },
});

export const authorizeRotateWebhookEndpointSecret: RouteAuthorizer<typeof rotateWebhookEndpointSecretRoute> = (c) =>
  requireEndpointWithinCaller(c, c.req.valid('param').id, 'rotate the secret of');

export const rotateWebhookEndpointSecret: AppRouteHandler<typeof rotateWebhookEndpointSecretRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const current = await loadWebhookEndpointForChange(db, orgId, id, ifMatch);
  const secret = generateWebhookSecret();
  const now = new Date();
  const next: webhookEndpoints.WebhookEndpointRecord = {
    ...current,
    secretSealed: await sealWebhookSecret(c, orgId, id, secret),
    previousSecretSealed: current.secretSealed,
    previousSecretExpiresAt: isoAfter(PREVIOUS_SECRET_SECONDS * 1000, now),
    updatedAt: now.toISOString(),
    version: current.version + 1,
  };
  const rotated = await commit(
    c,
    {
      statements: [
        webhookEndpoints.updateWebhookEndpoint(db, next, current.version),
        await auditEvent(c, 'webhook_endpoint.secret_rotated', id, next.updatedAt, { onlyIfChanged: true }),
      ],
      conditional: true,
    },
    { status: 200, headers: { ETag: versionEtag(next.version) }, json: { ...presentWebhookEndpoint(next), secret } },
  );
  if (rotated) return rotated;
  // Changed or deleted since it was read: a rotation is not retried on a version it did not see.
  if (ifMatch !== undefined) {
    throw new ApiError('precondition_failed', { detail: 'The webhook endpoint changed during the rotation; read it again.' });
  }
  throw new ApiError('conflict', { detail: 'The webhook endpoint changed during the rotation; try again.' });
};
