import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import { problemResponse } from '../../schemas/responses.ts';
import {
  WEBHOOK_ENDPOINT_ETAG_HEADER,
  WEBHOOK_ENDPOINT_UPDATE_EXAMPLE,
  WebhookEndpointIfMatchHeaderSchema,
  WebhookEndpointPathSchema,
  WebhookEndpointSchema,
  WebhookEndpointUpdateSchema,
} from '../../schemas/webhook-endpoints.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { requireEndpointWithinCaller, requireEventTypesWithinCaller } from './authorize.ts';
import { loadWebhookEndpointForChange } from './load.ts';
import { presentWebhookEndpoint, receiverUrl } from './present.ts';

/** Without If-Match, a write that lost a race is retried on the new version this many times. */
const ATTEMPTS = 3;

export const updateWebhookEndpointRoute = defineRoute({
  method: 'patch',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'updateWebhookEndpoint',
  tags: ['Webhook endpoints'],
  summary: 'Update a webhook endpoint',
  description:
    'Changes the given fields only; `event_types` is replaced whole. A new `url` is held to the same rules as on creation. With `If-Match`, only if the endpoint has not changed since. The secret is changed only by rotating it.',
  scope: 'webhooks:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: {
    params: WebhookEndpointPathSchema,
    headers: WebhookEndpointIfMatchHeaderSchema,
    body: {
      required: true,
      content: { 'application/json': { schema: WebhookEndpointUpdateSchema, example: WEBHOOK_ENDPOINT_UPDATE_EXAMPLE } },
    },
  },
  responses: {
    200: {
      description: 'The endpoint as changed.',
      headers: WEBHOOK_ENDPOINT_ETAG_HEADER,
      content: { 'application/json': { schema: WebhookEndpointSchema } },
    },
    403: problemResponse(
      'The API key lacks `webhooks:admin`, or the scope to read an event type the endpoint receives now or would receive (`insufficient_scope`, naming it).',
    ),
    409: problemResponse('The endpoint kept changing while this update was made (`conflict`): try again.'),
    412: problemResponse('`If-Match` does not name the current version: read the endpoint again.'),
  },
});

export const authorizeUpdateWebhookEndpoint: RouteAuthorizer<typeof updateWebhookEndpointRoute> = async (c) => {
  await requireEndpointWithinCaller(c, c.req.valid('param').id, 'change');
  const eventTypes = c.req.valid('json').event_types;
  if (eventTypes !== undefined) requireEventTypesWithinCaller(c, eventTypes, 'subscribe');
};

export const updateWebhookEndpoint: AppRouteHandler<typeof updateWebhookEndpointRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const patch = c.req.valid('json');
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db, environment } = c.get('config');
  const url = patch.url === undefined ? undefined : receiverUrl(patch.url, environment);
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const current = await loadWebhookEndpointForChange(db, orgId, id, ifMatch);
    const now = nowIso();
    const next: webhookEndpoints.WebhookEndpointRecord = {
      ...current,
      url: url ?? current.url,
      description: patch.description ?? current.description,
      eventTypes: patch.event_types === undefined ? current.eventTypes : patch.event_types,
      enabled: patch.enabled ?? current.enabled,
      updatedAt: now,
      version: current.version + 1,
    };
    const updated = await commit(
      c,
      {
        statements: [
          webhookEndpoints.updateWebhookEndpoint(db, next, current.version),
          await auditEvent(c, 'webhook_endpoint.updated', id, now, { onlyIfChanged: true }),
        ],
        conditional: true,
      },
      { status: 200, headers: { ETag: versionEtag(next.version) }, json: presentWebhookEndpoint(next) },
    );
    if (updated) return updated;
    if (ifMatch !== undefined) {
      throw new ApiError('precondition_failed', { detail: 'The webhook endpoint changed while this update was made; read it again.' });
    }
  }
  throw new ApiError('conflict', { detail: 'The webhook endpoint kept changing while this update was made; try again.' });
};
