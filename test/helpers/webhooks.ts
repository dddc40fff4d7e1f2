/**
 * Webhook delivery for tests: endpoints pointing at the receiver Worker (test/receiver/receiver.mjs),
 * what it received, and the queue consumer run on the deliveries that are due. The queue is real but
 * unconsumed in tests (vitest.config.ts): its retry delays run from seconds to ten hours, so a test
 * moves the clock and hands the consumer the messages the queue would hand it then.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect, vi } from 'vitest';
import worker from '../../src/index.ts';
import type { DeliveryMessage } from '../../src/schemas/webhook-attempts.ts';
import type { Tenant } from './tenants.ts';

/** The queue's name in wrangler.toml's top level: the consumer tells it from the dead-letter queue by name. */
export const DELIVERY_QUEUE = 'switchyard-webhooks-dev';

export interface Received {
  method: string;
  url: string;
  redirect: string;
  headers: Record<string, string>;
  body: string;
}

let inboxCount = 0;

/** A fresh inbox name, and the endpoint URL whose requests the receiver files under it. */
export function newInbox(): { inbox: string; url: string } {
  inboxCount += 1;
  const inbox = `inbox-${Date.now().toString(36)}-${inboxCount}`;
  return { inbox, url: `https://hooks.example.com/switchyard/${inbox}` };
}

/** How the receiver answers the inbox's next requests: statuses in order (then 200), or a redirect. */
export async function planAnswers(inbox: string, plan: Array<number | { status: number; location: string }>): Promise<void> {
  const response = await env.RECEIVER.fetch(`https://receiver/plans/${inbox}`, { method: 'PUT', body: JSON.stringify(plan) });
  expect(response.status).toBe(204);
}

export async function receivedBy(inbox: string): Promise<Received[]> {
  return (await env.RECEIVER.fetch(`https://receiver/inboxes/${inbox}`)).json<Received[]>();
}

/** An endpoint of the tenant, subscribed to `eventTypes` (every type when omitted), pointing at a new inbox. */
export async function createReceivingEndpoint(tenant: Tenant, eventTypes?: string[]) {
  const { inbox, url } = newInbox();
  const body = eventTypes === undefined ? { url } : { url, event_types: eventTypes };
  const { data, response } = await tenant.api.POST('/v1/webhook-endpoints', { body: body as { url: string } });
  expect(response.status).toBe(201);
  if (!data) throw new Error('no endpoint');
  return { endpoint: data, inbox };
}

/** Waits until the background dispatch that follows each change has dispatched every event of the tenant. */
export async function dispatched(tenant: Tenant): Promise<void> {
  for (let tries = 0; tries < 100; tries += 1) {
    const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM events WHERE org_id = ?1 AND dispatched_at IS NULL')
      .bind(tenant.orgId)
      .first<{ n: number }>();
    if (row?.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('events were not dispatched');
}

let messageCount = 0;

/**
 * Runs the real consumer (the Worker's `queue` handler) on a message for each of the tenant's
 * deliveries due by now, as the queue would deliver them, and returns what it decided for each.
 */
export async function runDueDeliveries(tenant: Tenant, queue = DELIVERY_QUEUE) {
  const { results } = await env.DB.prepare(
    "SELECT id FROM webhook_deliveries WHERE org_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2 ORDER BY created_at",
  )
    .bind(tenant.orgId, new Date(Date.now() + 2_000).toISOString())
    .all<{ id: string }>();
  const messages = results.map((row) => {
    messageCount += 1;
    return { id: `message-${messageCount}`, timestamp: new Date(), attempts: 1, body: { deliveryId: row.id } };
  });
  if (messages.length === 0) return { deliveries: [], result: undefined, delays: [] };
  const batch = createMessageBatch<DeliveryMessage>(queue, messages);
  // getQueueResult says which messages were retried, not after how long: each retry's delay is noted on its way through.
  const delays: Array<number | undefined> = [];
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    Object.defineProperty(message, 'retry', {
      value: (options?: QueueRetryOptions) => {
        delays.push(options?.delaySeconds);
        retry(options);
      },
    });
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return { deliveries: results.map((row) => row.id), result: await getQueueResult(batch, ctx), delays };
}

export interface DeliveryRow {
  id: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
}

export async function deliveriesOf(tenant: Tenant): Promise<DeliveryRow[]> {
  const { results } = await env.DB.prepare(
    'SELECT id, status, attempts, next_attempt_at FROM webhook_deliveries WHERE org_id = ?1 ORDER BY created_at',
  )
    .bind(tenant.orgId)
    .all<DeliveryRow>();
  return results;
}

/** The endpoint's attempts, oldest first, read through the attempts API. */
export async function attemptsOf(tenant: Tenant, endpointId: string) {
  const { data, response } = await tenant.api.GET('/v1/webhook-endpoints/{id}/attempts', {
    params: { path: { id: endpointId }, query: { limit: 100 } },
  });
  expect(response.status).toBe(200);
  return data?.data ?? [];
}

/** Moves the test clock (Date only: timers still run) by `ms`. */
export function advance(ms: number): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + ms);
}
