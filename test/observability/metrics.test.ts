/**
 * What the Worker writes to Analytics Engine, point by point (lib/metrics.ts): one per request and
 * one per operational event, in the column layout docs/observability.md's queries read. The
 * binding is the real local one; the points are read from its calls (test/helpers/metrics.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { D1_BREAKER } from '../../src/db/guarded-d1.ts';
import { D1_FAILURES, faultyD1, touching } from '../helpers/faults.ts';
import { captureMetrics } from '../helpers/metrics.ts';
import { connect, connectRequest, mintToken, openSession, waitFor } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { createReceivingEndpoint, dispatched, planAnswers, runDueDeliveries } from '../helpers/webhooks.ts';
import { callWorker } from '../helpers/worker.ts';

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function authorized(tenant: Tenant, headers: Record<string, string> = {}): RequestInit {
  return { headers: { Authorization: `Bearer ${tenant.key.secret}`, ...headers } };
}

async function deviceOf(tenant: Tenant): Promise<string> {
  const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'metered', kind: 'iot' } });
  if (!data) throw new Error('could not create a device');
  return data.id;
}

describe('the request point', () => {
  it('names the route template, method, status, organisation, key, request id, D1 time and the key cache', async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const metrics = captureMetrics();
    const response = await callWorker(`/v1/devices/${id}`, authorized(tenant, { 'User-Agent': 'meter/1.0' }));
    expect(response.status).toBe(200);
    const [point] = metrics.points('request');
    expect(metrics.points('request')).toHaveLength(1);
    expect(point).toMatchObject({
      index1: tenant.orgId,
      name: '/v1/devices/:id',
      detail: 'GET',
      org_id: tenant.orgId,
      key_id: tenant.key.id,
      request_id: response.headers.get('X-Request-Id'),
      // The device was created with this key a moment ago: the isolate's cache holds it.
      cache: 'hit',
      user_agent_state: '',
      error_code: '',
      value: 200,
    });
    // Never the path: the id is not in any blob.
    expect(JSON.stringify(point)).not.toContain(id);
    expect(point?.duration_ms).toBeGreaterThan(0);
    expect(point?.d1_queries).toBeGreaterThanOrEqual(1);
    expect(point?.d1_ms).toBeGreaterThan(0);
    expect(point?.d1_ms).toBeLessThanOrEqual(point?.duration_ms ?? 0);
  });

  it('says miss when the key had to be read from D1', async () => {
    const tenant = await createTenant();
    const metrics = captureMetrics();
    await callWorker('/v1/devices', authorized(tenant));
    expect(metrics.points('request')[0]).toMatchObject({ cache: 'miss', value: 200 });
  });

  it('counts an unknown path as one route, with the problem code, and a missing User-Agent', async () => {
    const metrics = captureMetrics();
    await callWorker('/nowhere/ses_secretish');
    expect(metrics.points('request')).toEqual([
      expect.objectContaining({
        index1: '-',
        name: 'unmatched',
        value: 404,
        error_code: 'not_found',
        user_agent_state: 'missing',
        org_id: '',
      }),
    ]);
    expect(JSON.stringify(metrics.points())).not.toContain('ses_secretish');
  });

  it('is written for a refused request too, and names an empty User-Agent', async () => {
    const metrics = captureMetrics();
    await callWorker('/v1/devices', { headers: { 'User-Agent': '' } });
    expect(metrics.points('request')).toEqual([
      expect.objectContaining({ name: '/v1/devices', value: 401, error_code: 'unauthorized', user_agent_state: 'empty' }),
    ]);
  });

  it('names a malformed User-Agent, which is refused', async () => {
    const metrics = captureMetrics();
    await callWorker('/health', { headers: { 'User-Agent': 'x'.repeat(600) } });
    expect(metrics.points('request')).toEqual([
      expect.objectContaining({ value: 400, error_code: 'invalid_user_agent', user_agent_state: 'malformed' }),
    ]);
    expect(metrics.points('security')).toEqual([expect.objectContaining({ name: 'user_agent_refused', detail: 'too_long', value: 400 })]);
  });
});

describe('resilience events', () => {
  const readsOfDevices = touching('FROM devices WHERE org_id = ?1 AND id = ?2');

  it('writes a retry for a transient D1 failure that was repeated', async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.connectionLost }, readsOfDevices);
    const metrics = captureMetrics();
    expect((await callWorker(`/v1/devices/${id}`, authorized(tenant), { DB: faulty.db })).status).toBe(200);
    const response = metrics.points('request')[0];
    expect(metrics.points('retry')).toEqual([
      expect.objectContaining({ name: 'D1', detail: 'Error', value: 2, org_id: tenant.orgId, request_id: response?.request_id }),
    ]);
  });

  it('writes a timeout for a D1 call that did not answer in time', async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    // Every read of the device hangs: each attempt times out; the last is the 504.
    const faulty = faultyD1({ kind: 'hang' }, readsOfDevices, 10);
    const metrics = captureMetrics();
    expect((await callWorker(`/v1/devices/${id}`, authorized(tenant), { DB: faulty.db })).status).toBe(504);
    const timeouts = metrics.points('timeout');
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
    expect(timeouts.every((point) => point.name === 'D1' && point.duration_ms > 0)).toBe(true);
    expect(metrics.points('retry').some((point) => point.detail === 'timeout')).toBe(true);
    expect(metrics.points('request')[0]).toMatchObject({ value: 504, error_code: 'timeout' });
  });

  it('writes one breaker point when the circuit opens, and one when it closes again', async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.overloaded }, readsOfDevices, D1_BREAKER.failureThreshold);
    const metrics = captureMetrics();
    for (let failure = 0; failure < D1_BREAKER.failureThreshold; failure += 1) {
      expect((await callWorker(`/v1/devices/${id}`, authorized(tenant), { DB: faulty.db })).status).toBe(503);
    }
    // Refused while open: no further transition.
    expect((await callWorker(`/v1/devices/${id}`, authorized(tenant), { DB: faulty.db })).status).toBe(503);
    expect(metrics.points('breaker')).toEqual([expect.objectContaining({ name: 'D1', detail: 'open' })]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + D1_BREAKER.openMs);
    expect((await callWorker(`/v1/devices/${id}`, authorized(tenant), { DB: faulty.db })).status).toBe(200);
    expect(metrics.points('breaker').map((point) => point.detail)).toEqual(['open', 'closed']);
  });
});

describe('WebSocket points', () => {
  it('writes a connect with the room size, and a disconnect with the close code and how long it lasted', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId);
    const metrics = captureMetrics();
    const client = await connect(sessionId, token);
    await client.until((frames) => frames.some((frame) => frame.type === 'welcome'));
    expect(metrics.points('websocket')).toEqual([expect.objectContaining({ name: 'connect', value: 1, org_id: tenant.orgId })]);
    client.socket.close(1000, 'done');
    await waitFor(() => metrics.points('websocket').length === 2);
    const disconnect = metrics.points('websocket')[1];
    expect(disconnect).toMatchObject({ name: 'disconnect', detail: 'normal', value: 1000, org_id: tenant.orgId });
    expect(disconnect?.duration_ms).toBeGreaterThanOrEqual(0);
  });
});

describe('webhook attempt points', () => {
  it('writes each attempt with its outcome, endpoint, status and duration', async () => {
    const tenant = await createTenant();
    const { endpoint, inbox } = await createReceivingEndpoint(tenant, ['device.created']);
    await planAnswers(inbox, [500]);
    await deviceOf(tenant);
    await dispatched(tenant);
    const metrics = captureMetrics();
    await runDueDeliveries(tenant);
    expect(metrics.points('webhook_attempt')).toEqual([
      expect.objectContaining({ name: 'failed', detail: endpoint.id, value: 500, org_id: tenant.orgId }),
    ]);
  });
});

describe('security event points', () => {
  it('are written with the event and its reason for each refusal', async () => {
    const tenant = await createTenant({ scopes: ['devices:read'] });
    const metrics = captureMetrics();
    await callWorker('/v1/devices', { headers: { Authorization: 'Bearer sy_live_0000' } });
    await callWorker('/v1/devices', { method: 'POST', ...authorized(tenant, { 'Content-Type': 'application/json' }), body: '{}' });
    const sessionId = await openSession(await createTenant());
    await connectRequest(sessionId, { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' });
    expect(metrics.points('security')).toEqual([
      expect.objectContaining({ name: 'auth_failed', detail: 'malformed_key', value: 401 }),
      expect.objectContaining({ name: 'scope_denied', detail: 'missing_scope', value: 403, org_id: tenant.orgId }),
      expect.objectContaining({ name: 'token_refused', detail: 'bad_signature', value: 401 }),
    ]);
  });
});
