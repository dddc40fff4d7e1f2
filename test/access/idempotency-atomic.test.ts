/**
 * Idempotency keys on an `atomic` route (POST /v1/devices): the result is saved in the same D1
 * batch as the change. The `claim` routes are covered in idempotency.test.ts.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

function createDevice(tenant: Tenant, idempotencyKey: string, body: unknown = { name: 'atomic', kind: 'phone' }) {
  return callWorker('/v1/devices', {
    method: 'POST',
    headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
    body: JSON.stringify(body),
  });
}

async function devicesNamed(tenant: Tenant, name: string): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM devices WHERE org_id = ?1 AND name = ?2')
    .bind(tenant.orgId, name)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

async function savedKeys(tenant: Tenant): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM idempotency_keys WHERE org_id = ?1')
    .bind(tenant.orgId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe('Idempotency-Key on a route that saves its result with its change', () => {
  it('replays the first response — status, body, Location, ETag — and creates once', async () => {
    const tenant = await createTenant();
    const first = await createDevice(tenant, 'replay');
    const firstBody = await first.text();
    expect(first.status).toBe(201);
    const second = await createDevice(tenant, 'replay');
    expect(second.status).toBe(201);
    expect(second.headers.get('Idempotent-Replayed')).toBe('true');
    expect(second.headers.get('Location')).toBe(first.headers.get('Location'));
    expect(second.headers.get('ETag')).toBe('"v1"');
    expect(await second.text()).toBe(firstBody);
    expect(await devicesNamed(tenant, 'atomic')).toBe(1);
    // The record and the device were written together: one row each, nothing in flight.
    const record = await env.DB.prepare('SELECT state, response_status FROM idempotency_keys WHERE org_id = ?1 AND key = ?2')
      .bind(tenant.orgId, 'replay')
      .first<{ state: string; response_status: number }>();
    expect(record).toEqual({ state: 'completed', response_status: 201 });
  });

  it('the same key with a different body is a 422, and changes nothing', async () => {
    const tenant = await createTenant();
    expect((await createDevice(tenant, 'reused')).status).toBe(201);
    await expectProblem(await createDevice(tenant, 'reused', { name: 'different', kind: 'iot' }), 422, 'idempotency_key_reused');
    expect(await devicesNamed(tenant, 'different')).toBe(0);
  });

  it('N concurrent requests with one key create one device; every answer is that device', async () => {
    const tenant = await createTenant();
    const responses = await Promise.all(Array.from({ length: 10 }, () => createDevice(tenant, 'concurrent')));
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(201));
    expect(new Set(responses.map((response) => response.headers.get('Location'))).size).toBe(1);
    expect(responses.filter((response) => response.headers.get('Idempotent-Replayed') === null)).toHaveLength(1);
    expect(await devicesNamed(tenant, 'atomic')).toBe(1);
  });

  it("a refusal by the handler is saved and replayed, and carries none of the success's headers", async () => {
    const tenant = await createTenant();
    const taken = await tenant.api.POST('/v1/devices', { body: { name: 'first', kind: 'phone', external_id: 'dup' } });
    expect(taken.response.status).toBe(201);
    const body = { name: 'second', kind: 'phone', external_id: 'dup' };
    const refused = await createDevice(tenant, 'refused', body);
    const refusedText = await refused.clone().text();
    await expectProblem(refused, 409, 'conflict');
    expect(refused.headers.get('Location')).toBeNull();
    expect(refused.headers.get('ETag')).toBeNull();
    // Even once the conflict is gone, the key answers what it answered first.
    await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: taken.data?.id ?? '' } } });
    const replay = await createDevice(tenant, 'refused', body);
    expect(replay.status).toBe(409);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.text()).toBe(refusedText);
    expect(await devicesNamed(tenant, 'second')).toBe(0);
  });

  it('a request that failed validation saves nothing: the same key then works', async () => {
    const tenant = await createTenant();
    await expectProblem(await createDevice(tenant, 'after-400', { name: '', kind: 'phone' }), 400, 'validation_failed');
    expect(await savedKeys(tenant)).toBe(0);
    expect((await createDevice(tenant, 'after-400')).status).toBe(201);
  });

  it('a key older than 24 hours is forgotten: the request runs again', async () => {
    const tenant = await createTenant();
    expect((await createDevice(tenant, 'old')).status).toBe(201);
    await env.DB.prepare("UPDATE idempotency_keys SET expires_at = '2000-01-01T00:00:00.000Z' WHERE org_id = ?1").bind(tenant.orgId).run();
    const again = await createDevice(tenant, 'old');
    expect(again.status).toBe(201);
    expect(again.headers.get('Idempotent-Replayed')).toBeNull();
    expect(await devicesNamed(tenant, 'atomic')).toBe(2);
    expect(await savedKeys(tenant)).toBe(1);
  });

  it('a key used on a claim route first is refused here as a different request', async () => {
    const tenant = await createTenant();
    const claimed = await callWorker('/v1/api-keys', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'shared' },
      body: JSON.stringify({ name: 'k', scopes: ['devices:read'] }),
    });
    expect(claimed.status).toBe(201);
    await expectProblem(await createDevice(tenant, 'shared'), 422, 'idempotency_key_reused');
    expect(await devicesNamed(tenant, 'atomic')).toBe(0);
  });
});
