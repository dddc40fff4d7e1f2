/**
 * @module
 * The rule for every operation that makes or changes an endpoint: a caller acts only on endpoints
 * it could read the events of itself. Its URL receives every event it subscribes to, so a key with
 * `webhooks:admin` alone must not subscribe to device events (it would read devices without
 * `devices:read`), nor point, pause or delete an endpoint that carries events it cannot read (a
 * leaked narrow key would redirect or silence the organisation's wider endpoints).
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import * as webhookEndpoints from '../../db/webhook-endpoints.ts';
import { ApiError } from '../../errors.ts';
import type { Scope } from '../../schemas/scopes.ts';
import { EVENT_TYPE_SCOPES, WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../schemas/webhook-events.ts';

/** 403 `insufficient_scope` unless the caller holds the scope of every type in `eventTypes` (null: every type). */
export function requireEventTypesWithinCaller(c: Context<AppEnv>, eventTypes: readonly WebhookEventType[] | null, action: string): void {
  const held = c.get('auth').scopes;
  const needed = new Set<Scope>((eventTypes ?? WEBHOOK_EVENT_TYPES).map((type) => EVENT_TYPE_SCOPES[type]));
  const missing = [...needed].filter((scope) => !held.includes(scope));
  if (missing.length > 0) {
    throw new ApiError('insufficient_scope', {
      detail: `A key cannot ${action} an endpoint receiving events it may not read itself: it lacks ${missing.map((scope) => `\`${scope}\``).join(', ')}.${eventTypes === null ? ' An endpoint without event_types receives every type.' : ''}`,
      security: { reason: 'event_types_beyond_caller', details: { scopes: missing.join(' ') } },
    });
  }
}

/**
 * 403 unless the caller may read every event endpoint `id` receives. One that does not exist is left
 * to the handler, which answers 404, or to the replay of the caller's own earlier result.
 */
export async function requireEndpointWithinCaller(c: Context<AppEnv>, id: string, action: string): Promise<void> {
  const endpoint = await webhookEndpoints.getWebhookEndpoint(c.get('config').db, c.get('auth').orgId, id);
  if (endpoint) requireEventTypesWithinCaller(c, endpoint.eventTypes, action);
}
