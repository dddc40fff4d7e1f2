/**
 * @module
 * The event types an organisation can subscribe a webhook endpoint to: one per change the API
 * makes that a customer's system may want to follow. Each will be delivered as a signed event
 * (Standard Webhooks) and be readable from the events API.
 */
import { z } from '@hono/zod-openapi';
import type { Scope } from './scopes.ts';

export const WEBHOOK_EVENT_TYPES = [
  'device.created',
  'device.updated',
  'device.deleted',
  'session.created',
  'session.ended',
  'session.participant_joined',
  'session.participant_left',
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'webhook_endpoint.disabled',
  'signing_key.created',
  'request_signing.updated',
  'signing_key.revoked',
  'organization.updated',
  'organization_export.created',
  'organization_export.succeeded',
  'organization_export.failed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const WebhookEventTypeSchema = z
  .enum(WEBHOOK_EVENT_TYPES)
  .openapi('WebhookEventType', { description: 'A kind of event: the object, a dot, what happened to it.', example: 'device.created' });

/**
 * The event POST /v1/webhook-endpoints/{id}/test sends to that endpoint alone: no endpoint
 * subscribes to it, and no change emits it.
 */
export const TEST_EVENT_TYPE = 'webhook.test';

/**
 * The scope a key needs to read what an event type carries. An endpoint delivers its events to
 * whoever controls its URL, so making or changing one subscribed to a type is reading that type:
 * without this, a key holding only `webhooks:admin` could read every device and API key by webhook.
 */
export const EVENT_TYPE_SCOPES: Record<WebhookEventType | typeof TEST_EVENT_TYPE, Scope> = {
  'device.created': 'devices:read',
  'device.updated': 'devices:read',
  'device.deleted': 'devices:read',
  'session.created': 'sessions:read',
  'session.ended': 'sessions:read',
  'session.participant_joined': 'sessions:read',
  'session.participant_left': 'sessions:read',
  'api_key.created': 'keys:admin',
  'api_key.rotated': 'keys:admin',
  'api_key.revoked': 'keys:admin',
  'webhook_endpoint.disabled': 'webhooks:admin',
  'signing_key.created': 'organization:admin',
  'request_signing.updated': 'organization:admin',
  'signing_key.revoked': 'organization:admin',
  'organization.updated': 'organization:read',
  'organization_export.created': 'organization:export',
  'organization_export.succeeded': 'organization:export',
  'organization_export.failed': 'organization:export',
  'webhook.test': 'webhooks:admin',
};
