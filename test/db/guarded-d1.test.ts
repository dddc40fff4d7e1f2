/**
 * D1 failing the ways Cloudflare documents, injected under the real Worker (test/helpers/faults.ts):
 * reads are repeated, writes are not (a repeat with the same Idempotency-Key learns the outcome),
 * every failure is a 503 / 504 problem with Retry-After, and the breaker fails fast while D1 fails.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { D1_BREAKER } from '../../src/db/guarded-d1.ts';
import { D1_FAILURES, type FaultyD1, faultyD1, touching } from '../helpers/faults.ts';
import { countRows } from '../helpers/idempotency.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

async function deviceOf(tenant: Tenant): Promise<string> {
  const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'faulty', kind: 'iot' } });
  if (!data) throw new Error('could not create a device');
  return data.id;
}

function getDevice(tenant: Tenant, id: string, faulty: FaultyD1): Promise<Response> {
  return callWorker(`/v1/devices/${id}`, { headers: { Authorization: `Bearer ${tenant.key.secret}` } }, { DB: faulty.db });
}

function createDevice(tenant: Tenant, key: string, faulty: FaultyD1 | undefined): Promise<Response> {
  return callWorker(
    '/v1/devices',
    {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify({ name: 'written once', kind: 'iot' }),
    },
    faulty ? { DB: faulty.db } : {},
  );
}

const readsOfDevices = touching('FROM devices WHERE org_id = ?1 AND id = ?2');

describe('a D1 read that fails transiently', () => {
  it.each(
    Object.entries({ connectionLost: D1_FAILURES.connectionLost, objectReset: D1_FAILURES.objectReset, internal: D1_FAILURES.internal }),
  )('is repeated after %s, and the client sees only the answer', async (_, message) => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const faulty = faultyD1({ kind: 'fail', message }, readsOfDevices);
    const response = await getDevice(tenant, id, faulty);
    expect(response.status).toBe(200);
    expect(faulty.calls.filter(readsOfDevices)).toHaveLength(2);
  });

  it('is not repeated when D1 is overloaded (repeating adds load): 503 with Retry-After', async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.overloaded }, readsOfDevices);
    const response = await getDevice(tenant, id, faulty);
    await expectProblem(response, 503, 'service_unavailable');
    expect(response.headers.get('Retry-After')).toBe('1');
    expect(faulty.calls.filter(readsOfDevices)).toHaveLength(1);
  });

  it('that never answers is a 504 with Retry-After within the read budget, never a hang or a 500', async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const faulty = faultyD1({ kind: 'hang' }, readsOfDevices, 10);
    const started = Date.now();
    const response = await getDevice(tenant, id, faulty);
    await expectProblem(response, 504, 'timeout');
    expect(response.headers.get('Retry-After')).toBe('1');
    expect(Date.now() - started).toBeLessThan(3_500);
    expect(faulty.calls.filter(readsOfDevices)).toHaveLength(3);
  });
});

describe('a D1 write that fails', () => {
  const batches = (call: { method: string; sql: string[] }) =>
    call.method === 'batch' && call.sql.some((sql) => sql.includes('INSERT INTO devices'));

  it('whose reply was lost after it committed: the answer saved with it is read back and given, and a repeat answers the same, made once', async () => {
    const tenant = await createTenant();
    const faulty = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, batches);
    const lost = await createDevice(tenant, 'lost-reply', faulty);
    expect(lost.status).toBe(201);
    expect(lost.headers.get('Idempotent-Replayed')).toBe('true');
    expect(faulty.calls.filter(batches)).toHaveLength(1);
    const repeat = await createDevice(tenant, 'lost-reply', undefined);
    expect(repeat.status).toBe(201);
    expect(repeat.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await countRows('devices', tenant, "name = 'written once'")).toBe(1);
    expect(await countRows('audit_events', tenant, "action = 'device.created'")).toBe(1);
  });

  it('before it reached the database: 503, and the repeat with the same key makes it, once', async () => {
    const tenant = await createTenant();
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.objectReset }, batches);
    await expectProblem(await createDevice(tenant, 'never-sent', faulty), 503, 'service_unavailable');
    expect(await countRows('devices', tenant, "name = 'written once'")).toBe(0);
    const repeat = await createDevice(tenant, 'never-sent', undefined);
    expect(repeat.status).toBe(201);
    expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
    expect(await countRows('devices', tenant, "name = 'written once'")).toBe(1);
    expect(await countRows('audit_events', tenant, "action = 'device.created'")).toBe(1);
  });
});

describe('the D1 circuit breaker', () => {
  it(`opens after ${D1_BREAKER.failureThreshold} failures: the next request is a 503 circuit_open that never reaches D1, and /ready says not ready`, async () => {
    const tenant = await createTenant();
    const id = await deviceOf(tenant);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.overloaded }, readsOfDevices, D1_BREAKER.failureThreshold);
    for (let failure = 0; failure < D1_BREAKER.failureThreshold; failure += 1) {
      await expectProblem(await getDevice(tenant, id, faulty), 503, 'service_unavailable');
    }
    const paused = await getDevice(tenant, id, faulty);
    await expectProblem(paused, 503, 'circuit_open');
    expect(Number(paused.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(faulty.calls.filter(readsOfDevices)).toHaveLength(D1_BREAKER.failureThreshold);
    await expectProblem(await callWorker('/ready', {}, { DB: faulty.db }), 503, 'not_ready');
    // Another binding (another isolate's view) is unaffected.
    expect((await callWorker('/ready', {}, { DB: env.DB })).status).toBe(200);
  });
});

describe('authentication while D1 fails', () => {
  const keyLookups = touching('FROM api_keys k JOIN organizations o');

  it('a key this isolate has read keeps authenticating from its cache; an unread one is a 503, never a 401', async () => {
    const warm = await createTenant();
    const id = await deviceOf(warm);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.connectionLost }, keyLookups, 100);
    expect((await getDevice(warm, id, faulty)).status).toBe(200);
    const cold = await createTenant();
    const refused = await getDevice(cold, id, faulty);
    await expectProblem(refused, 503, 'service_unavailable');
    expect(refused.headers.get('WWW-Authenticate')).toBeNull();
  });
});
