/**
 * Webhook delivery end to end in the Workers runtime: a change's event is dispatched after its
 * commit, the real queue consumer signs and sends it to a real receiver (a second Worker,
 * test/receiver/receiver.mjs), and records each attempt. The queue itself is not consumed here: a
 * test hands the consumer the messages the queue would, after moving the clock through the retry
 * schedule's delays (test/helpers/webhooks.ts).
 */
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SWEEP_CRON, UNDISPATCHED_AFTER_MS } from '../../src/delivery/sweep.ts';
import worker from '../../src/index.ts';
import { verifyWebhook } from '../../src/lib/webhook-signature.ts';
import { EMITTED_EVENT_TYPES } from '../../src/schemas/events.ts';
import { type DeliveryMessage, DISABLE_AFTER_FAILING_MS, RETRY_SCHEDULE_SECONDS } from '../../src/schemas/webhook-attempts.ts';
import { eventOfType, eventsOf } from '../helpers/events.ts';
import { FIXTURE_PUBLIC_KEY } from '../helpers/operations.ts';
import { connect, mintToken } from '../helpers/realtime.ts';
import { createTenant } from '../helpers/tenants.ts';
import {
  advance,
  attemptsOf,
  createReceivingEndpoint,
  DELIVERY_QUEUE,
  deliveriesOf,
  dispatched,
  planAnswers,
  receivedBy,
  runDueDeliveries,
} from '../helpers/webhooks.ts';
import { callWorker } from '../helpers/worker.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('webhook delivery', () => {
  it('delivers every event type signed as Standard Webhooks has it, verifiable with the client package helper', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant);
    const device = (await tenant.api.POST('/v1/devices', { body: { name: 'lobby', kind: 'iot' } })).data?.id ?? '';
    await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device } }, body: { name: 'hall' } });
    await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device } } });
    const session = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
    const participant = await connect(session, await mintToken(tenant, session, 'client:watched'));
    await eventOfType(tenant, 'session.participant_joined');
    participant.socket.close(1000, 'done');
    await eventOfType(tenant, 'session.participant_left');
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session } } });
    const key = (await tenant.api.POST('/v1/api-keys', { body: { name: 'ci', scopes: ['devices:read'] } })).data?.id ?? '';
    const rotated = await tenant.api.POST('/v1/api-keys/{id}/rotate', {
      params: { path: { id: key } },
      body: { grace_period_seconds: 60 },
    });
    await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: rotated.data?.id ?? '' } } });
    const signingKey = (await tenant.api.POST('/v1/signing-keys', { body: { name: 'ci', public_key: FIXTURE_PUBLIC_KEY } })).data?.id ?? '';
    await tenant.api.PUT('/v1/organization/request-signing', { body: { required: false } });
    await tenant.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id: signingKey } } });
    await tenant.api.PATCH('/v1/organization', { body: { name: 'renamed' } });
    await dispatched(tenant);

    const { result } = await runDueDeliveries(tenant);
    expect(result?.explicitAcks).toHaveLength(14);
    const received = await receivedBy(inbox);
    const listed = await eventsOf(tenant);
    expect(received.map((request) => JSON.parse(request.body).type)).toEqual(listed.map((event) => event.type));
    expect(new Set(received.map((request) => JSON.parse(request.body).type))).toEqual(
      // Exports' events are delivered like any other; their own tests make them (test/routes/organization-exports/).
      new Set(
        EMITTED_EVENT_TYPES.filter(
          (type) => type !== 'webhook_endpoint.disabled' && type !== 'webhook.test' && !type.startsWith('organization_export.'),
        ),
      ),
    );
    for (const [index, request] of received.entries()) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe(endpoint.url);
      expect(request.redirect).toBe('manual');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^Switchyard-Webhooks\//);
      expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
      // The receiver's side: the helper the client package ships accepts it, typed, and it is the listed event.
      const event = await verifyWebhook(request.body, request.headers, endpoint.secret);
      expect(event).toEqual(listed[index]);
      expect(request.headers['webhook-id']).toBe(listed[index]?.id);
      await expect(verifyWebhook(request.body.replace('}', ' }'), request.headers, endpoint.secret)).rejects.toMatchObject({
        reason: 'invalid_signature',
      });
    }
    expect((await deliveriesOf(tenant)).every((delivery) => delivery.status === 'succeeded' && delivery.attempts === 1)).toBe(true);
    expect(
      (await attemptsOf(tenant, endpoint.id)).map((attempt) => [attempt.outcome, attempt.status_code, attempt.next_attempt_at]),
    ).toEqual(Array.from({ length: 14 }, () => ['succeeded', 200, null]));
  });

  it('sends only the types an endpoint subscribes to, and nothing to a disabled one', async () => {
    const tenant = await createTenant();
    const devices = await createReceivingEndpoint(tenant, ['device.deleted']);
    const paused = await createReceivingEndpoint(tenant);
    await tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: paused.endpoint.id } }, body: { enabled: false } });
    const device = (await tenant.api.POST('/v1/devices', { body: { name: 'short-lived', kind: 'iot' } })).data?.id ?? '';
    await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device } } });
    await dispatched(tenant);
    await runDueDeliveries(tenant);
    expect((await receivedBy(devices.inbox)).map((request) => JSON.parse(request.body).type)).toEqual(['device.deleted']);
    expect(await receivedBy(paused.inbox)).toEqual([]);
  });

  it('retries on the schedule until the receiver succeeds, so the event arrives once with one webhook-id, and shows every attempt', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await planAnswers(inbox, [500, 503, { status: 302, location: 'https://hooks.example.com/elsewhere' }, 200]);
    await tenant.api.POST('/v1/devices', { body: { name: 'flaky receiver', kind: 'iot' } });
    await dispatched(tenant);

    const delays: Array<number | undefined> = [];
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      const run = await runDueDeliveries(tenant);
      expect(run.result?.retryMessages).toHaveLength(attempt < 4 ? 1 : 0);
      delays.push(...run.delays);
      if (attempt < 4) {
        // Not due before its delay: a message handed over early is put back, no request made.
        const early = await runDueDeliveries(tenant);
        expect(early.deliveries).toEqual([]);
        advance((RETRY_SCHEDULE_SECONDS[attempt] ?? 0) * 1000);
      }
    }
    expect(delays).toEqual([RETRY_SCHEDULE_SECONDS[1], RETRY_SCHEDULE_SECONDS[2], RETRY_SCHEDULE_SECONDS[3]]);
    const received = await receivedBy(inbox);
    expect(received).toHaveLength(4);
    expect(new Set(received.map((request) => request.headers['webhook-id'])).size).toBe(1);
    // The redirect was not followed: nothing reached the place it pointed at.
    expect(await receivedBy('elsewhere')).toEqual([]);
    const attempts = await attemptsOf(tenant, endpoint.id);
    expect(attempts.map((attempt) => [attempt.attempt, attempt.outcome, attempt.status_code])).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 503],
      [3, 'failed', 302],
      [4, 'succeeded', 200],
    ]);
    expect(attempts.slice(0, 3).every((attempt) => attempt.next_attempt_at !== null)).toBe(true);
    expect(attempts[3]?.next_attempt_at).toBeNull();
    expect(await deliveriesOf(tenant)).toMatchObject([{ status: 'succeeded', attempts: 4, next_attempt_at: null }]);
    const filtered = await tenant.api.GET('/v1/webhook-endpoints/{id}/attempts', {
      params: { path: { id: endpoint.id }, query: { event_id: attempts[0]?.event_id ?? '' } },
    });
    expect(filtered.data?.data).toHaveLength(4);
    const none = await tenant.api.GET('/v1/webhook-endpoints/{id}/attempts', {
      params: { path: { id: endpoint.id }, query: { event_id: 'evt_not_an_event_of_this_endpoint' } },
    });
    expect(none.data?.data).toEqual([]);
  });

  it('gives up after the last attempt (the message goes to the dead-letter queue) and disables an endpoint failing for 5 days, with its event', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant);
    const watcher = await createReceivingEndpoint(tenant, ['webhook_endpoint.disabled']);
    await planAnswers(
      inbox,
      Array.from({ length: 20 }, () => 500),
    );
    await tenant.api.POST('/v1/devices', { body: { name: 'never delivered', kind: 'iot' } });
    await dispatched(tenant);
    const started = Date.now();
    let last: Awaited<ReturnType<typeof runDueDeliveries>> | undefined;
    for (const delay of RETRY_SCHEDULE_SECONDS.slice(1)) {
      last = await runDueDeliveries(tenant);
      advance(delay * 1000);
    }
    last = await runDueDeliveries(tenant);
    // The last attempt failed: retried without a delay, which the queue sends to the dead-letter queue.
    expect(last.result?.retryMessages).toEqual([{ msgId: expect.any(String) }]);
    expect(last.delays).toEqual([undefined]);
    const [delivery] = await deliveriesOf(tenant);
    expect(delivery).toMatchObject({ status: 'failed', attempts: RETRY_SCHEDULE_SECONDS.length, next_attempt_at: null });
    expect(await receivedBy(inbox)).toHaveLength(RETRY_SCHEDULE_SECONDS.length);
    // The dead-letter queue's consumer records it as failed (it already is) and acknowledges it.
    const dead = await runDeadLetter(delivery?.id ?? '');
    expect(dead.explicitAcks).toHaveLength(1);

    // Still failing 5 days after the first failure: the next failed attempt disables the endpoint.
    const endpointNow = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } } });
    expect(endpointNow.data?.enabled).toBe(true);
    vi.setSystemTime(started + DISABLE_AFTER_FAILING_MS + 1_000);
    await tenant.api.POST('/v1/devices', { body: { name: 'the last straw', kind: 'iot' } });
    await dispatched(tenant);
    await runDueDeliveries(tenant);
    const disabled = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } } });
    expect(disabled.data?.enabled).toBe(false);
    const disabledEvents = await tenant.api.GET('/v1/events', { params: { query: { type: 'webhook_endpoint.disabled' } } });
    expect(
      disabledEvents.data?.data.map((event) => ['id' in event.data && event.data.id, 'enabled' in event.data && event.data.enabled]),
    ).toEqual([[endpoint.id, false]]);
    const audit = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'webhook_endpoint.disabled' } } });
    expect(audit.data?.data.map((event) => [event.target_id, event.actor_key_id])).toEqual([[endpoint.id, null]]);
    // Dispatched at once to the endpoints subscribed to it.
    await runDueDeliveries(tenant);
    expect((await receivedBy(watcher.inbox)).map((request) => JSON.parse(request.body).type)).toContain('webhook_endpoint.disabled');
  });

  it('the sweep dispatches an event whose Worker stopped after the commit, and resends a delivery whose message was lost', async () => {
    const tenant = await createTenant();
    const { inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    // A queue that refuses every message: the dispatch writes the delivery, then cannot enqueue it.
    const refusing = {
      send: () => Promise.reject(new Error('queue unavailable')),
      sendBatch: () => Promise.reject(new Error('queue unavailable')),
    };
    const created = await callWorker(
      '/v1/devices',
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'lost message', kind: 'iot' }),
      },
      { WEBHOOK_QUEUE: refusing },
    );
    expect(created.status).toBe(201);
    expect(await deliveriesOf(tenant)).toMatchObject([{ status: 'pending', attempts: 0 }]);

    const sent: unknown[] = [];
    const recording = {
      send: (body: unknown) => env.WEBHOOK_QUEUE.send(body),
      sendBatch: (messages: Array<{ body: unknown }>) => {
        sent.push(...messages.map((message) => message.body));
        return env.WEBHOOK_QUEUE.sendBatch(messages);
      },
    };
    const sweep = (at: number) =>
      worker.scheduled(createScheduledController({ scheduledTime: at, cron: SWEEP_CRON }), {
        ...env,
        WEBHOOK_QUEUE: recording,
      } as typeof env);
    await sweep(Date.now());
    expect(sent).toEqual([]);
    await sweep(Date.now() + 6 * 60_000);
    expect(sent).toEqual([{ deliveryId: (await deliveriesOf(tenant))[0]?.id }]);
    await runDueDeliveries(tenant);
    expect(await receivedBy(inbox)).toHaveLength(1);
  });

  it('the sweep dispatches an event left undispatched by a Worker that stopped right after its commit', async () => {
    const tenant = await createTenant();
    const { inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await tenant.api.POST('/v1/devices', { body: { name: 'orphaned event', kind: 'iot' } });
    await dispatched(tenant);
    // As if the dispatch after the commit had never run: no delivery, the event not dispatched.
    await env.DB.prepare('DELETE FROM webhook_deliveries WHERE org_id = ?1').bind(tenant.orgId).run();
    await env.DB.prepare('UPDATE events SET dispatched_at = NULL WHERE org_id = ?1').bind(tenant.orgId).run();
    const sweep = (at: number) => worker.scheduled(createScheduledController({ scheduledTime: at, cron: SWEEP_CRON }), env);
    // Younger than 30 s, it is left to its own dispatch; older, the sweep dispatches it.
    await sweep(Date.now());
    expect(await deliveriesOf(tenant)).toEqual([]);
    advance(UNDISPATCHED_AFTER_MS + 1_000);
    await sweep(Date.now());
    expect(await deliveriesOf(tenant)).toMatchObject([{ status: 'pending', attempts: 0 }]);
    await runDueDeliveries(tenant);
    expect((await receivedBy(inbox)).map((request) => JSON.parse(request.body).type)).toEqual(['device.created']);
  });

  it("opens an endpoint's circuit after 5 failures in a row: its next delivery waits without a request or an attempt counted", async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await planAnswers(
      inbox,
      Array.from({ length: 10 }, () => 500),
    );
    for (let index = 0; index < 5; index += 1) {
      await tenant.api.POST('/v1/devices', { body: { name: `failing ${index}`, kind: 'iot' } });
      await dispatched(tenant);
      await runDueDeliveries(tenant);
    }
    expect(await receivedBy(inbox)).toHaveLength(5);
    await tenant.api.POST('/v1/devices', { body: { name: 'held back', kind: 'iot' } });
    await dispatched(tenant);
    const held = await runDueDeliveries(tenant);
    // Only the new delivery was due; it is put back for the minute the circuit stays open.
    expect(held.deliveries).toHaveLength(1);
    expect(held.delays).toEqual([60]);
    expect(await receivedBy(inbox)).toHaveLength(5);
    expect(await attemptsOf(tenant, endpoint.id)).toHaveLength(5);
    const postponed = (await deliveriesOf(tenant)).at(-1);
    expect(postponed).toMatchObject({ status: 'pending', attempts: 0 });
    // After the minute, one probe goes out; the receiver answers 500 again, and it is counted.
    advance(60_000);
    await runDueDeliveries(tenant);
    expect(await receivedBy(inbox)).toHaveLength(6);
  });
});

/** Runs the consumer on the dead-letter queue's message for the delivery, as that queue would. */
async function runDeadLetter(deliveryId: string) {
  const batch = createMessageBatch<DeliveryMessage>(`${DELIVERY_QUEUE}-dlq`, [
    { id: 'dead-1', timestamp: new Date(), attempts: 1, body: { deliveryId } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}
