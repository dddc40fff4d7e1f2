/**
 * Sending events again, end to end in the Workers runtime: a resend, a recovery after a receiver was
 * down, and a test event, each delivered by the real queue consumer to the receiver Worker with the
 * event's own `webhook-id`, signed afresh, and shown by the attempts API.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { components } from '../../generated/api.ts';
import { verifyWebhook } from '../../src/lib/webhook-signature.ts';
import { MAX_RECOVERED_DELIVERIES, RETRY_SCHEDULE_SECONDS } from '../../src/schemas/webhook-attempts.ts';
import { eventsOf } from '../helpers/events.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import {
  advance,
  attemptsOf,
  createReceivingEndpoint,
  deliveriesOf,
  dispatched,
  planAnswers,
  receivedBy,
  runDueDeliveries,
} from '../helpers/webhooks.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** Runs the consumer through the whole retry schedule: every attempt of the tenant's deliveries is made. */
async function runWholeSchedule(tenant: Tenant): Promise<void> {
  for (const delay of RETRY_SCHEDULE_SECONDS.slice(1)) {
    await runDueDeliveries(tenant);
    advance(delay * 1000);
  }
  await runDueDeliveries(tenant);
  // Past the minute the endpoint's circuit stays open after those failures (delivery/deliver.ts).
  advance(60_000);
}

async function createDevice(tenant: Tenant, name: string): Promise<string> {
  const { data } = await tenant.api.POST('/v1/devices', { body: { name, kind: 'iot' } });
  await dispatched(tenant);
  return data?.id ?? '';
}

describe('resend', () => {
  it('sends a delivered event again with the same webhook-id, signed afresh, and counts on from the last attempt', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await createDevice(tenant, 'resent');
    await runDueDeliveries(tenant);
    const [event] = await eventsOf(tenant);
    advance(10_000);

    const { data, response } = await tenant.api.POST('/v1/webhook-endpoints/{id}/resend', {
      params: { path: { id: endpoint.id } },
      body: { event_id: event?.id ?? '' },
    });
    expect(response.status).toBe(202);
    const [delivery] = await deliveriesOf(tenant);
    expect(data).toEqual({
      id: delivery?.id,
      event_id: event?.id,
      status: 'pending',
      attempts: 1,
      next_attempt_at: expect.any(String),
      created_at: expect.any(String),
    });
    await runDueDeliveries(tenant);

    const received = await receivedBy(inbox);
    expect(received).toHaveLength(2);
    expect(received.map((request) => request.headers['webhook-id'])).toEqual([event?.id, event?.id]);
    expect(received[1]?.headers['webhook-timestamp']).not.toBe(received[0]?.headers['webhook-timestamp']);
    for (const request of received) expect(await verifyWebhook(request.body, request.headers, endpoint.secret)).toEqual(event);
    expect((await attemptsOf(tenant, endpoint.id)).map((attempt) => [attempt.attempt, attempt.outcome])).toEqual([
      [1, 'succeeded'],
      [2, 'succeeded'],
    ]);
    const audit = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'webhook_endpoint.event_resent' } } });
    expect(audit.data?.data.map((row) => [row.target_id, row.actor_key_id])).toEqual([[endpoint.id, tenant.key.id]]);
  });

  it('gives a delivery that failed for good the whole retry schedule again', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await planAnswers(
      inbox,
      Array.from({ length: RETRY_SCHEDULE_SECONDS.length + 1 }, () => 500),
    );
    await createDevice(tenant, 'failed for good');
    await runWholeSchedule(tenant);
    expect(await deliveriesOf(tenant)).toMatchObject([{ status: 'failed', attempts: RETRY_SCHEDULE_SECONDS.length }]);
    const [event] = await eventsOf(tenant);

    await tenant.api.POST('/v1/webhook-endpoints/{id}/resend', {
      params: { path: { id: endpoint.id } },
      body: { event_id: event?.id ?? '' },
    });
    const first = await runDueDeliveries(tenant);
    // The receiver still fails once: the delivery is retried after the schedule's first delay, not given up.
    expect(first.delays).toEqual([RETRY_SCHEDULE_SECONDS[1]]);
    // Due again in 5 s; that failure also reopened the endpoint's circuit for a minute: run past both.
    advance(60_000);
    await runDueDeliveries(tenant);
    expect(await deliveriesOf(tenant)).toMatchObject([{ status: 'succeeded', attempts: RETRY_SCHEDULE_SECONDS.length + 2 }]);
    const attempts = await attemptsOf(tenant, endpoint.id);
    expect(attempts.slice(-2).map((attempt) => [attempt.attempt, attempt.outcome, attempt.status_code])).toEqual([
      [RETRY_SCHEDULE_SECONDS.length + 1, 'failed', 500],
      [RETRY_SCHEDULE_SECONDS.length + 2, 'succeeded', 200],
    ]);
    expect(new Set((await receivedBy(inbox)).map((request) => request.headers['webhook-id']))).toEqual(new Set([event?.id]));
  });

  it('sends an event the endpoint never got (it was created after the event) once asked', async () => {
    const tenant = await createTenant();
    await createDevice(tenant, 'before the endpoint');
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    const [event] = await eventsOf(tenant);
    const { response } = await tenant.api.POST('/v1/webhook-endpoints/{id}/resend', {
      params: { path: { id: endpoint.id } },
      body: { event_id: event?.id ?? '' },
    });
    expect(response.status).toBe(202);
    await runDueDeliveries(tenant);
    expect((await receivedBy(inbox)).map((request) => request.headers['webhook-id'])).toEqual([event?.id]);
  });

  it('refuses an unknown event, a type the endpoint does not receive, and a disabled endpoint, sending nothing', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.deleted']);
    await createDevice(tenant, 'not subscribed');
    const [created] = await eventsOf(tenant);
    const resend = (eventId: string) =>
      tenant.api.POST('/v1/webhook-endpoints/{id}/resend', { params: { path: { id: endpoint.id } }, body: { event_id: eventId } });

    const unknown = await resend(`msg_${'0'.repeat(22)}`);
    expect((await expectProblem(unknown, 404, 'not_found')).detail).toContain('event');
    const unsubscribed = await resend(created?.id ?? '');
    expect((await expectProblem(unsubscribed, 409, 'event_not_subscribed')).detail).toContain('device.created');
    await tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body: { enabled: false } });
    const disabled = await resend(created?.id ?? '');
    await expectProblem(disabled, 409, 'endpoint_disabled');
    const malformed = await tenant.api.POST('/v1/webhook-endpoints/{id}/resend', {
      params: { path: { id: endpoint.id } },
      body: { event_id: 'not-an-event' },
    });
    await expectProblem(malformed, 400, 'validation_failed');

    expect(await deliveriesOf(tenant)).toEqual([]);
    await runDueDeliveries(tenant);
    expect(await receivedBy(inbox)).toEqual([]);
  });

  it('does not resend an event of another organisation', async () => {
    const owner = await createTenant();
    const stranger = await createTenant();
    await createDevice(owner, 'not yours');
    const [event] = await eventsOf(owner);
    const { endpoint } = await createReceivingEndpoint(stranger);
    const refused = await stranger.api.POST('/v1/webhook-endpoints/{id}/resend', {
      params: { path: { id: endpoint.id } },
      body: { event_id: event?.id ?? '' },
    });
    await expectProblem(refused, 404, 'not_found');
    expect(await deliveriesOf(stranger)).toEqual([]);
  });
});

describe('recover', () => {
  it('sends again every event whose delivery failed in the window, after the receiver was down, with the same webhook-ids', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    const healthy = await createReceivingEndpoint(tenant, ['device.created']);
    await planAnswers(inbox, [503, 503, 503]);
    const before = new Date(Date.now() - 1_000).toISOString();
    for (const name of ['down 1', 'down 2', 'down 3']) await createDevice(tenant, name);
    await runDueDeliveries(tenant);
    const downIds = (await receivedBy(inbox)).map((request) => request.headers['webhook-id']);
    expect(downIds).toHaveLength(3);
    // As if the rest of the schedule had run out too (the whole schedule is run in the tests above;
    // three deliveries failing at once would also open the endpoint's circuit, which they test apart).
    await env.DB.prepare(
      "UPDATE webhook_deliveries SET status = 'failed', attempts = ?3, next_attempt_at = NULL WHERE org_id = ?1 AND endpoint_id = ?2",
    )
      .bind(tenant.orgId, endpoint.id, RETRY_SCHEDULE_SECONDS.length)
      .run();

    const { data, response } = await tenant.api.POST('/v1/webhook-endpoints/{id}/recover', {
      params: { path: { id: endpoint.id } },
      body: { since: before },
    });
    expect(response.status).toBe(202);
    expect(data).toEqual({ recovered: 3, has_more: false });
    await runDueDeliveries(tenant);

    const recovered = (await receivedBy(inbox)).slice(downIds.length);
    const events = await eventsOf(tenant);
    expect(recovered.map((request) => request.headers['webhook-id'])).toEqual(events.map((event) => event.id));
    for (const request of recovered) await verifyWebhook(request.body, request.headers, endpoint.secret);
    expect((await deliveriesOf(tenant)).every((delivery) => delivery.status === 'succeeded')).toBe(true);
    // The healthy endpoint got each event once, at the time, and nothing again.
    expect(await receivedBy(healthy.inbox)).toHaveLength(3);

    // Nothing failed is left: a second recovery reopens nothing.
    const again = await tenant.api.POST('/v1/webhook-endpoints/{id}/recover', {
      params: { path: { id: endpoint.id } },
      body: { since: before },
    });
    expect(again.data).toEqual({ recovered: 0, has_more: false });
  });

  it('recovers only the window asked for, and what an endpoint disabled meanwhile did not send, once it is enabled again', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await planAnswers(
      inbox,
      Array.from({ length: RETRY_SCHEDULE_SECONDS.length }, () => 503),
    );
    await createDevice(tenant, 'failed before the window');
    await runWholeSchedule(tenant);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    await env.DB.prepare('UPDATE webhook_deliveries SET created_at = ?2 WHERE org_id = ?1').bind(tenant.orgId, hourAgo).run();
    const since = new Date(Date.now() - 60_000).toISOString();
    // Paused with a delivery on its way: the consumer settles it as failed without a request.
    await createDevice(tenant, 'paused before its delivery');
    await tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body: { enabled: false } });
    await runDueDeliveries(tenant);
    expect((await deliveriesOf(tenant)).map((delivery) => [delivery.status, delivery.attempts])).toEqual([
      ['failed', RETRY_SCHEDULE_SECONDS.length],
      ['failed', 0],
    ]);
    const received = (await receivedBy(inbox)).length;

    const refused = await tenant.api.POST('/v1/webhook-endpoints/{id}/recover', { params: { path: { id: endpoint.id } }, body: { since } });
    await expectProblem(refused, 409, 'endpoint_disabled');
    await tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body: { enabled: true } });
    const { data } = await tenant.api.POST('/v1/webhook-endpoints/{id}/recover', {
      params: { path: { id: endpoint.id } },
      body: { since },
    });
    expect(data).toEqual({ recovered: 1, has_more: false });
    await runDueDeliveries(tenant);
    const paused = (await eventsOf(tenant))[1];
    expect((await receivedBy(inbox)).slice(received).map((request) => request.headers['webhook-id'])).toEqual([paused?.id]);
  });

  it(`reopens at most ${MAX_RECOVERED_DELIVERIES} a call, oldest first, and says when more are left`, async () => {
    const tenant = await createTenant();
    const { endpoint } = await createReceivingEndpoint(tenant, ['device.created']);
    // A long outage's backlog, written straight to D1: one failed delivery more than a call reopens.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?4)
       INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, status, attempts, created_at, updated_at)
       SELECT printf('whd_backlog%011d', i), ?1, ?2, printf('msg_backlog%011d', i), 'failed', 8,
              strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '+' || i || ' seconds'), ?3 FROM n`,
    )
      .bind(tenant.orgId, endpoint.id, new Date(Date.now() - 7_200_000).toISOString(), MAX_RECOVERED_DELIVERIES + 1)
      .run();
    const recover = () =>
      tenant.api.POST('/v1/webhook-endpoints/{id}/recover', {
        params: { path: { id: endpoint.id } },
        body: { since: new Date(Date.now() - 86_400_000).toISOString() },
      });
    expect((await recover()).data).toEqual({ recovered: MAX_RECOVERED_DELIVERIES, has_more: true });
    const stillFailed = await env.DB.prepare("SELECT id FROM webhook_deliveries WHERE org_id = ?1 AND status = 'failed'")
      .bind(tenant.orgId)
      .all<{ id: string }>();
    expect(stillFailed.results.map((row) => row.id)).toEqual([`whd_backlog${String(MAX_RECOVERED_DELIVERIES + 1).padStart(11, '0')}`]);
    expect((await recover()).data).toEqual({ recovered: 1, has_more: false });
  });

  it('reopens nothing for a window that ends before it starts', async () => {
    const tenant = await createTenant();
    const { endpoint } = await createReceivingEndpoint(tenant, ['device.created']);
    await createDevice(tenant, 'outside the window');
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE org_id = ?1")
      .bind(tenant.orgId)
      .run();
    const backwards = await tenant.api.POST('/v1/webhook-endpoints/{id}/recover', {
      params: { path: { id: endpoint.id } },
      body: { since: new Date(Date.now() + 60_000).toISOString(), until: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(backwards.data).toEqual({ recovered: 0, has_more: false });
    expect(await deliveriesOf(tenant)).toMatchObject([{ status: 'failed' }]);
  });
});

describe('test events', () => {
  it('sends a webhook.test event to that endpoint only, signed, carrying the endpoint, and lists it', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    const other = await createReceivingEndpoint(tenant);
    const { data, response } = await tenant.api.POST('/v1/webhook-endpoints/{id}/test', { params: { path: { id: endpoint.id } } });
    expect(response.status).toBe(202);
    expect(data).toMatchObject({ status: 'pending', attempts: 0 });
    await dispatched(tenant);
    await runDueDeliveries(tenant);

    const [request, ...more] = await receivedBy(inbox);
    expect(more).toEqual([]);
    const event = await verifyWebhook<components['schemas']['Event']>(request?.body ?? '', request?.headers ?? {}, endpoint.secret);
    expect(event.type).toBe('webhook.test');
    expect(event.id).toBe(data?.event_id);
    const { secret: _secret, ...presented } = endpoint;
    expect(event.data).toEqual(presented);
    expect(await receivedBy(other.inbox)).toEqual([]);
    expect((await eventsOf(tenant)).map((listed) => listed.type)).toEqual(['webhook.test']);
    expect(await attemptsOf(tenant, endpoint.id)).toMatchObject([{ event_id: data?.event_id, outcome: 'succeeded' }]);
    const audit = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'webhook_endpoint.tested' } } });
    expect(audit.data?.data.map((row) => row.target_id)).toEqual([endpoint.id]);
  });

  it('refuses a disabled endpoint', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant);
    await tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body: { enabled: false } });
    const refused = await tenant.api.POST('/v1/webhook-endpoints/{id}/test', { params: { path: { id: endpoint.id } } });
    await expectProblem(refused, 409, 'endpoint_disabled');
    await runDueDeliveries(tenant);
    expect(await receivedBy(inbox)).toEqual([]);
  });
});
