/**
 * @module
 * Dispatching events to webhooks: for each undispatched event, a delivery row per enabled endpoint
 * subscribed to its type, written with the event's `dispatched_at` in one batch, then a queue
 * message per delivery. It spans the events and delivery tables, and sits below the routes because
 * the routes' changes, the delivery consumer, the sweep and the session rooms (whose presence
 * events they write themselves) all dispatch.
 */
import type { Config } from '../env.ts';
import { nowIso } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import type { DeliveryMessage } from '../schemas/webhook-attempts.ts';
import { TEST_EVENT_TYPE } from '../schemas/webhook-events.ts';
import * as events from './events.ts';
import * as webhookDeliveries from './webhook-deliveries.ts';
import * as webhookEndpoints from './webhook-endpoints.ts';

/** Events one dispatch takes at most: a burst of changes is dispatched by the next ones, or the sweep. */
const DISPATCH_BATCH_EVENTS = 50;
/** Messages per queue send: the platform's limit for one `sendBatch`. */
export const QUEUE_SEND_BATCH = 100;

/**
 * Dispatches undispatched events (of one organisation, or every one written before a time): their
 * deliveries and each event's `dispatched_at` in one batch, then the deliveries' queue messages.
 * Returns how many events and messages. Two dispatchers at once write each delivery once (the row
 * is unique per event and endpoint): the loser's message names a row that was never written, and the
 * consumer drops it.
 */
export async function dispatchEvents(
  config: Config,
  scope: { orgId: string } | { writtenBefore: string },
): Promise<{ events: number; messages: number }> {
  const { db } = config;
  const pending = await events.undispatchedEvents(db, scope, DISPATCH_BATCH_EVENTS);
  if (pending.length === 0) return { events: 0, messages: 0 };
  const endpointsOf = new Map<string, webhookEndpoints.WebhookEndpointRecord[]>();
  const statements: D1PreparedStatement[] = [];
  const messages: MessageSendRequest<DeliveryMessage>[] = [];
  const at = nowIso();
  for (const event of pending) {
    let endpoints = endpointsOf.get(event.orgId);
    if (endpoints === undefined) {
      endpoints = await webhookEndpoints.enabledEndpoints(db, event.orgId);
      endpointsOf.set(event.orgId, endpoints);
    }
    const { type } = event;
    for (const endpoint of endpoints) {
      // A test event's one delivery is made by its request; no endpoint subscribes to the type.
      if (type === TEST_EVENT_TYPE || (endpoint.eventTypes !== null && !endpoint.eventTypes.includes(type))) continue;
      const deliveryId = newId('webhookDelivery');
      statements.push(
        webhookDeliveries.insertDelivery(db, { id: deliveryId, orgId: event.orgId, endpointId: endpoint.id, eventId: event.id, at }),
      );
      messages.push({ body: { deliveryId } });
    }
    statements.push(events.markDispatched(db, event.id, at));
  }
  await db.batch(statements);
  for (let start = 0; start < messages.length; start += QUEUE_SEND_BATCH) {
    await config.webhookQueue.sendBatch(messages.slice(start, start + QUEUE_SEND_BATCH));
  }
  return { events: pending.length, messages: messages.length };
}
