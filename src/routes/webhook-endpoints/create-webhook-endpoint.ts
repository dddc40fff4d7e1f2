import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import { newId } from '../../lib/ids.ts';
import { generateWebhookSecret } from '../../lib/webhook-secret.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import {
  MAX_WEBHOOK_ENDPOINTS,
  WEBHOOK_ENDPOINT_CREATE_EXAMPLE,
  WEBHOOK_ENDPOINT_ETAG_HEADER,
  WebhookEndpointCreateSchema,
  WebhookEndpointWithSecretSchema,
} from '../../schemas/webhook-endpoints.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { requireEventTypesWithinCaller } from './authorize.ts';
import { presentWebhookEndpoint, receiverUrl, webhookEndpointLocation } from './present.ts';
import { sealWebhookSecret } from './secrets.ts';

export const createWebhookEndpointRoute = defineRoute({
  method: 'post',
  path: '/v1/webhook-endpoints',
  operationId: 'createWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Create a webhook endpoint',
  description: `Registers a URL that the organisation's events are delivered to, signed with a new secret that this response shows once (Switchyard keeps it encrypted). At most ${MAX_WEBHOOK_ENDPOINTS} endpoints per organisation. The URL must be \`https://\` to a public host (\`http://\` to loopback is allowed outside production); one that points inside a network is a 400 naming \`url\`.`,
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: {
    body: {
      required: true,
      content: { 'application/json': { schema: WebhookEndpointCreateSchema, example: WEBHOOK_ENDPOINT_CREATE_EXAMPLE } },
    },
  },
  responses: {
    201: {
      description: 'The endpoint, with its signing secret.',
      headers: { ...locationHeader("The endpoint's URL."), ...WEBHOOK_ENDPOINT_ETAG_HEADER },
      content: { 'application/json': { schema: WebhookEndpointWithSecretSchema } },
      links: {
        GetWebhookEndpoint: {
          operationId: 'getWebhookEndpoint',
          parameters: { id: '$response.body#/id' },
          description: 'Read the endpoint.',
        },
        UpdateWebhookEndpoint: {
          operationId: 'updateWebhookEndpoint',
          parameters: { id: '$response.body#/id' },
          description: 'Change the endpoint.',
        },
        RotateWebhookEndpointSecret: {
          operationId: 'rotateWebhookEndpointSecret',
          parameters: { id: '$response.body#/id' },
          description: "Rotate the endpoint's secret.",
        },
        DeleteWebhookEndpoint: {
          operationId: 'deleteWebhookEndpoint',
          parameters: { id: '$response.body#/id' },
          description: 'Delete the endpoint.',
        },
      },
    },
    403: problemResponse(
      'The API key lacks `webhooks:admin`, or the scope to read an event type it subscribes to (`insufficient_scope`, naming it): `devices:read` for device events, `sessions:read` for session events, `keys:admin` for API key events; no `event_types` subscribes to every type.',
    ),
    409: problemResponse(`The organisation has ${MAX_WEBHOOK_ENDPOINTS} endpoints already (\`limit_reached\`).`),
  },
});

export const authorizeCreateWebhookEndpoint: RouteAuthorizer<typeof createWebhookEndpointRoute> = async (c) =>
  requireEventTypesWithinCaller(c, c.req.valid('json').event_types ?? null, 'create');

export const createWebhookEndpoint: AppRouteHandler<typeof createWebhookEndpointRoute> = async (c) => {
  const input = c.req.valid('json');
  const { orgId } = c.get('auth');
  const { db, environment } = c.get('config');
  const url = receiverUrl(input.url, environment);
  const id = newId('webhookEndpoint');
  const secret = generateWebhookSecret();
  const now = nowIso();
  const endpoint: webhookEndpoints.WebhookEndpointRecord = {
    id,
    orgId,
    url,
    description: input.description ?? '',
    eventTypes: input.event_types ?? null,
    enabled: input.enabled ?? true,
    secretSealed: await sealWebhookSecret(c, orgId, id, secret),
    previousSecretSealed: null,
    previousSecretExpiresAt: null,
    failingSince: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  const created = await commit(
    c,
    {
      statements: [
        webhookEndpoints.insertWebhookEndpoint(db, endpoint, MAX_WEBHOOK_ENDPOINTS),
        await auditEvent(c, 'webhook_endpoint.created', id, now, { onlyIfChanged: true }),
      ],
      conditional: true,
    },
    {
      status: 201,
      headers: { Location: webhookEndpointLocation(id), ETag: versionEtag(endpoint.version) },
      json: { ...presentWebhookEndpoint(endpoint), secret },
    },
  );
  if (created) return created;
  throw new ApiError('limit_reached', {
    detail: `The organisation has ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints, as many as it may: delete one first.`,
  });
};
