/**
 * @module
 * Reading the endpoint a request names: 404 when it is not the organisation's, 412 when `If-Match`
 * names another version.
 */
import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import { ApiError, notFound, requireIfMatch } from '../../errors.ts';

export async function loadWebhookEndpoint(db: D1Database, orgId: string, id: string): Promise<webhookEndpoints.WebhookEndpointRecord> {
  const endpoint = await webhookEndpoints.getWebhookEndpoint(db, orgId, id);
  if (!endpoint) throw notFound('webhook endpoint', id);
  return endpoint;
}

/** The endpoint a PATCH, DELETE or rotation is about to change. */
export async function loadWebhookEndpointForChange(
  db: D1Database,
  orgId: string,
  id: string,
  ifMatch: string | undefined,
): Promise<webhookEndpoints.WebhookEndpointRecord> {
  const current = await loadWebhookEndpoint(db, orgId, id);
  requireIfMatch(ifMatch, current.version, 'webhook endpoint');
  return current;
}

/** The endpoint a resend, recovery or test sends to: 409 `endpoint_disabled` when it receives nothing now. */
export async function loadReceivingEndpoint(db: D1Database, orgId: string, id: string): Promise<webhookEndpoints.WebhookEndpointRecord> {
  const endpoint = await loadWebhookEndpoint(db, orgId, id);
  if (!endpoint.enabled) {
    throw new ApiError('endpoint_disabled', { detail: `Webhook endpoint ${id} is disabled: enable it, then send to it again.` });
  }
  return endpoint;
}
