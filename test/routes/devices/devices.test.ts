import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { callWorker } from '../../helpers/worker.ts';

function send(tenant: Tenant, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return callWorker(path, {
    method,
    headers: {
      Authorization: `Bearer ${tenant.key.secret}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function register(tenant: Tenant, body: Record<string, unknown> = {}) {
  const { data, response } = await tenant.api.POST('/v1/devices', { body: { name: 'Tablet', kind: 'browser', ...body } });
  expect(response.status, JSON.stringify(data)).toBe(201);
  if (!data) throw new Error('no device');
  return data;
}

describe('POST /v1/devices', () => {
  it('registers a device with defaults, Location and ETag', async () => {
    const tenant = await createTenant();
    const { data, response } = await tenant.api.POST('/v1/devices', { body: { name: 'Front desk', kind: 'phone' } });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({
      name: 'Front desk',
      kind: 'phone',
      external_id: null,
      metadata: {},
      tags: [],
      status: 'active',
      last_seen_at: null,
      version: 1,
    });
    expect(data?.id).toMatch(/^dev_[0-9A-Za-z]{22}$/);
    expect(response.headers.get('Location')).toBe(`/v1/devices/${data?.id}`);
    expect(response.headers.get('ETag')).toBe('"v1"');
    expect(data?.created_at).toBe(data?.updated_at);
  });

  it('stores every field and returns it on read', async () => {
    const tenant = await createTenant();
    const created = await register(tenant, {
      external_id: 'asset-1',
      metadata: { floor: 3, model: 'Pixel', kiosk: true },
      tags: ['lobby', 'floor:3'],
      status: 'disabled',
    });
    const { data } = await tenant.api.GET('/v1/devices/{id}', { params: { path: { id: created.id } } });
    expect(data).toEqual(created);
  });

  it('refuses a duplicate external_id in the same organisation with 409 naming the field', async () => {
    const tenant = await createTenant();
    await register(tenant, { external_id: 'asset-7' });
    const duplicate = await tenant.api.POST('/v1/devices', { body: { name: 'Other', kind: 'iot', external_id: 'asset-7' } });
    const problem = await expectProblem(duplicate, 409, 'conflict');
    expect(problem.errors).toEqual([
      { location: 'body', pointer: '/external_id', detail: 'Already used by another device', code: 'duplicate' },
    ]);
    // Another organisation may use the same external id.
    await register(await createTenant(), { external_id: 'asset-7' });
  });

  const inside: Array<[string, Record<string, unknown>]> = [
    ['a 100-character name', { name: 'n'.repeat(100) }],
    ['a 128-character external_id', { external_id: 'e'.repeat(128) }],
    ['50 metadata keys', { metadata: Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`k${index}`, index])) }],
    ['a 40-character metadata key', { metadata: { ['k'.repeat(40)]: 1 } }],
    ['a 500-character metadata value', { metadata: { note: 'v'.repeat(500) } }],
    ['20 tags', { tags: Array.from({ length: 20 }, (_, index) => `t${index}`) }],
    ['a 50-character tag', { tags: ['t'.repeat(50)] }],
  ];
  it.each(inside)('accepts %s (just inside the bound)', async (_, body) => {
    await register(await createTenant(), body);
  });

  const outside: Array<[string, Record<string, unknown>, string]> = [
    ['an empty name', { name: '' }, '/name'],
    ['a 101-character name', { name: 'n'.repeat(101) }, '/name'],
    ['a name of spaces', { name: '  ' }, '/name'],
    ['an unknown kind', { kind: 'toaster' }, '/kind'],
    ['a 129-character external_id', { external_id: 'e'.repeat(129) }, '/external_id'],
    ['an external_id with a space', { external_id: 'a b' }, '/external_id'],
    ['51 metadata keys', { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`k${index}`, index])) }, '/metadata'],
    ['a 41-character metadata key', { metadata: { ['k'.repeat(41)]: 1 } }, `/metadata/${'k'.repeat(41)}`],
    ['an empty metadata key', { metadata: { '': 1 } }, '/metadata/'],
    ['a 501-character metadata value', { metadata: { note: 'v'.repeat(501) } }, '/metadata/note'],
    ['a nested metadata value', { metadata: { nested: { a: 1 } } }, '/metadata/nested'],
    ['21 tags', { tags: Array.from({ length: 21 }, (_, index) => `t${index}`) }, '/tags'],
    ['a 51-character tag', { tags: ['t'.repeat(51)] }, '/tags/0'],
    ['a repeated tag', { tags: ['a', 'a'] }, '/tags'],
    ['an unknown status', { status: 'deleted' }, '/status'],
    ['a read-only field', { version: 5 }, '/version'],
    ['an unknown field', { colour: 'red' }, '/colour'],
  ];
  it.each(outside)('refuses %s (just outside the bound) with 400 naming the field', async (_, body, pointer) => {
    const tenant = await createTenant();
    const problem = await expectProblem(
      await send(tenant, 'POST', '/v1/devices', { name: 'Tablet', kind: 'browser', ...body }),
      400,
      'validation_failed',
    );
    expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
  });

  it('is idempotent with Idempotency-Key', async () => {
    const tenant = await createTenant();
    const headers = { 'Idempotency-Key': 'device-once' };
    const first = await send(tenant, 'POST', '/v1/devices', { name: 'Once', kind: 'iot' }, headers);
    const second = await send(tenant, 'POST', '/v1/devices', { name: 'Once', kind: 'iot' }, headers);
    expect(second.headers.get('Idempotent-Replayed')).toBe('true');
    expect(second.headers.get('ETag')).toBe(first.headers.get('ETag'));
    expect(await second.text()).toBe(await first.text());
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM devices WHERE org_id = ?1').bind(tenant.orgId).first<{ n: number }>();
    expect(count?.n).toBe(1);
  });
});

describe('GET /v1/devices/{id}', () => {
  it('answers If-None-Match with the current ETag with 304 and no body', async () => {
    const tenant = await createTenant();
    const device = await register(tenant);
    const response = await send(tenant, 'GET', `/v1/devices/${device.id}`, undefined, { 'If-None-Match': 'W/"v1"' });
    expect(response.status).toBe(304);
    expect(response.headers.get('ETag')).toBe('"v1"');
    expect(await response.text()).toBe('');
    const stale = await send(tenant, 'GET', `/v1/devices/${device.id}`, undefined, { 'If-None-Match': '"v0", "v9"' });
    expect(stale.status).toBe(200);
  });

  it('refuses a malformed id with 400 and an unknown one with 404', async () => {
    const tenant = await createTenant();
    await expectProblem(await send(tenant, 'GET', '/v1/devices/not-an-id'), 400, 'validation_failed');
    await expectProblem(await send(tenant, 'GET', `/v1/devices/dev_${'0'.repeat(22)}`), 404, 'not_found');
  });
});

describe('PATCH /v1/devices/{id}', () => {
  it('changes only the given fields, bumps the version and the ETag', async () => {
    const tenant = await createTenant();
    const device = await register(tenant, { external_id: 'x-1', metadata: { a: 1 }, tags: ['t'] });
    const { data, response } = await tenant.api.PATCH('/v1/devices/{id}', {
      params: { path: { id: device.id } },
      body: { name: 'Renamed', tags: [] },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('ETag')).toBe('"v2"');
    expect(data).toMatchObject({ name: 'Renamed', tags: [], metadata: { a: 1 }, external_id: 'x-1', kind: 'browser', version: 2 });
    expect(Date.parse(data?.updated_at ?? '')).toBeGreaterThanOrEqual(Date.parse(device.updated_at));
  });

  it('removes the external id with null', async () => {
    const tenant = await createTenant();
    const device = await register(tenant, { external_id: 'x-2' });
    const { data } = await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device.id } }, body: { external_id: null } });
    expect(data?.external_id).toBeNull();
  });

  it('applies with the current If-Match and refuses a stale one with 412, changing nothing', async () => {
    const tenant = await createTenant();
    const device = await register(tenant);
    const fresh = await send(tenant, 'PATCH', `/v1/devices/${device.id}`, { name: 'v2' }, { 'If-Match': '"v1"' });
    expect(fresh.status).toBe(200);
    const stale = await send(tenant, 'PATCH', `/v1/devices/${device.id}`, { name: 'lost update' }, { 'If-Match': '"v1"' });
    await expectProblem(stale, 412, 'precondition_failed');
    const weak = await send(tenant, 'PATCH', `/v1/devices/${device.id}`, { name: 'weak' }, { 'If-Match': 'W/"v2"' });
    await expectProblem(weak, 412, 'precondition_failed');
    const { data } = await tenant.api.GET('/v1/devices/{id}', { params: { path: { id: device.id } } });
    expect(data).toMatchObject({ name: 'v2', version: 2 });
  });

  it('works through the typed client with the ETag it returned (the README example)', async () => {
    const tenant = await createTenant();
    const { data: device, response } = await tenant.api.POST('/v1/devices', {
      body: { name: 'Front desk tablet', kind: 'browser', external_id: 'asset-4471', tags: ['lobby'] },
      headers: { 'Idempotency-Key': crypto.randomUUID() },
    });
    const etag = response.headers.get('ETag') ?? '';
    const updated = await tenant.api.PATCH('/v1/devices/{id}', {
      params: { path: { id: device?.id ?? '' }, header: { 'If-Match': etag } },
      body: { status: 'disabled' },
    });
    expect(updated.data?.status).toBe('disabled');
    const page = await tenant.api.GET('/v1/devices', { params: { query: { tag: 'lobby', q: 'tablet', limit: 50 } } });
    expect(page.data?.data.map((item) => item.id)).toEqual([device?.id]);
    const notModified = await tenant.api.GET('/v1/devices/{id}', {
      params: { path: { id: device?.id ?? '' }, header: { 'If-None-Match': updated.response.headers.get('ETag') ?? '' } },
    });
    expect(notModified.response.status).toBe(304);
  });

  it.each([
    ['an empty patch', {}, ''],
    ['a read-only field', { id: 'dev_x' }, '/id'],
    ['created_at', { created_at: '2026-01-01T00:00:00Z' }, '/created_at'],
    ['an invalid field value', { status: 'gone' }, '/status'],
  ])('refuses %s with 400', async (_, body, pointer) => {
    const tenant = await createTenant();
    const device = await register(tenant);
    const problem = await expectProblem(await send(tenant, 'PATCH', `/v1/devices/${device.id}`, body), 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
  });

  it("refuses another device's external_id with 409", async () => {
    const tenant = await createTenant();
    await register(tenant, { external_id: 'taken' });
    const device = await register(tenant);
    await expectProblem(
      await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device.id } }, body: { external_id: 'taken' } }),
      409,
      'conflict',
    );
  });

  it('lets concurrent updates without If-Match all land, one version each', async () => {
    const tenant = await createTenant();
    const device = await register(tenant);
    const results = await Promise.all(
      Array.from({ length: 3 }, (_, index) =>
        tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device.id } }, body: { metadata: { writer: index } } }),
      ),
    );
    expect(results.map((result) => result.response.status)).toEqual([200, 200, 200]);
    expect(new Set(results.map((result) => result.data?.version))).toEqual(new Set([2, 3, 4]));
  });
});

describe('DELETE /v1/devices/{id}', () => {
  it('deletes (204), then 404 on read and on a second delete; audited', async () => {
    const tenant = await createTenant();
    const device = await register(tenant);
    expect((await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device.id } } })).response.status).toBe(204);
    await expectProblem(await tenant.api.GET('/v1/devices/{id}', { params: { path: { id: device.id } } }), 404, 'not_found');
    await expectProblem(await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device.id } } }), 404, 'not_found');
    const events = await tenant.api.GET('/v1/audit-events', { params: { query: { target_type: 'device', target_id: device.id } } });
    expect(events.data?.data.map((event) => event.action)).toEqual(['device.created', 'device.deleted']);
  });

  it('honours If-Match', async () => {
    const tenant = await createTenant();
    const device = await register(tenant);
    await expectProblem(
      await send(tenant, 'DELETE', `/v1/devices/${device.id}`, undefined, { 'If-Match': '"v7"' }),
      412,
      'precondition_failed',
    );
    expect((await send(tenant, 'DELETE', `/v1/devices/${device.id}`, undefined, { 'If-Match': '"v1"' })).status).toBe(204);
  });
});
