/**
 * An organisation with no enabled webhook endpoint when its change commits has nothing to
 * dispatch: the event is written dispatched, its INSERT says so in the change's own batch, and no
 * dispatch follows (no read, no write). With one enabled, the event waits for its dispatch, which
 * makes the delivery.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { UNDISPATCHED_OF_ORGANIZATION } from '../../src/db/events.ts';
import { type FaultyD1, faultyD1, touching } from '../helpers/faults.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { createReceivingEndpoint, deliveriesOf, dispatched } from '../helpers/webhooks.ts';
import { callWorker } from '../helpers/worker.ts';

// A recorder only: no call it sees fails.
const NEVER = () => false;
const endpointReads = touching('FROM webhook_endpoints WHERE org_id = ?1 AND enabled = 1');
const stamps = touching('UPDATE events SET dispatched_at');
const undispatchedReads = touching(UNDISPATCHED_OF_ORGANIZATION);

async function createDevice(tenant: Tenant, recorder: FaultyD1): Promise<void> {
  const response = await callWorker(
    '/v1/devices',
    {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() },
      body: JSON.stringify({ name: 'dispatched', kind: 'iot' }),
    },
    { DB: recorder.db },
  );
  expect(response.status).toBe(201);
}

async function eventRows(tenant: Tenant) {
  const { results } = await env.DB.prepare('SELECT created_at, dispatched_at FROM events WHERE org_id = ?1')
    .bind(tenant.orgId)
    .all<{ created_at: string; dispatched_at: string | null }>();
  return results;
}

describe('dispatch after a change', () => {
  it('costs no D1 call after the change when the organisation has no enabled endpoint', async () => {
    const tenant = await createTenant();
    const recorder = faultyD1({ kind: 'fail', message: 'unused' }, NEVER, 0);
    await createDevice(tenant, recorder);
    const [event] = await eventRows(tenant);
    expect(event?.dispatched_at).toBe(event?.created_at);
    expect(recorder.calls.filter(undispatchedReads)).toHaveLength(0);
    expect(recorder.calls.filter(endpointReads)).toHaveLength(0);
    expect(recorder.calls.filter(stamps)).toHaveLength(0);
  });

  it('treats a disabled endpoint as none', async () => {
    const tenant = await createTenant();
    const { endpoint } = await createReceivingEndpoint(tenant);
    await tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body: { enabled: false } });
    await dispatched(tenant);
    const recorder = faultyD1({ kind: 'fail', message: 'unused' }, NEVER, 0);
    await createDevice(tenant, recorder);
    expect(recorder.calls.filter(undispatchedReads)).toHaveLength(0);
    expect(recorder.calls.filter(endpointReads)).toHaveLength(0);
    expect((await eventRows(tenant)).every((row) => row.dispatched_at !== null)).toBe(true);
  });

  it('leaves the event to its dispatch when an endpoint is enabled, which makes its delivery', async () => {
    const tenant = await createTenant();
    await createReceivingEndpoint(tenant, ['device.created']);
    await dispatched(tenant);
    const before = (await deliveriesOf(tenant)).length;
    const recorder = faultyD1({ kind: 'fail', message: 'unused' }, NEVER, 0);
    await createDevice(tenant, recorder);
    await dispatched(tenant);
    expect(recorder.calls.filter(undispatchedReads)).toHaveLength(1);
    expect(recorder.calls.filter(endpointReads)).toHaveLength(1);
    expect(recorder.calls.filter(stamps)).toHaveLength(1);
    expect(await deliveriesOf(tenant)).toHaveLength(before + 1);
  });
});

describe("the read of an organisation's undispatched events", () => {
  it('uses the index of undispatched events by organisation, not all the events the organisation keeps', async () => {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${UNDISPATCHED_OF_ORGANIZATION}`)
      .bind('org_x', 50)
      .all<{ detail: string }>();
    expect(results.map((row) => row.detail)).toEqual([expect.stringContaining('USING INDEX events_undispatched_by_org (org_id=?)')]);
  });
});
