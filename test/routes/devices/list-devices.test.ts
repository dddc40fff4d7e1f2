import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { insertDevice } from '../../../src/db/devices.ts';
import { newId } from '../../../src/lib/ids.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';

/** Inserts devices straight into D1 (fast), with strictly increasing creation times. */
async function seedDevices(tenant: Tenant, count: number, start = Date.now()) {
  const statements = Array.from({ length: count }, (_, index) => {
    const at = new Date(start + index).toISOString();
    return insertDevice(env.DB, {
      id: newId('device'),
      orgId: tenant.orgId,
      name: `Device ${index}`,
      kind: 'iot',
      externalId: null,
      metadata: {},
      tags: [],
      status: 'active',
      lastSeenAt: null,
      createdAt: at,
      updatedAt: at,
      version: 1,
    });
  });
  await env.DB.batch(statements);
}

async function pageAll(tenant: Tenant, query: Record<string, string | number>, between?: (page: number) => Promise<void>) {
  const ids: string[] = [];
  let cursor: string | undefined;
  let page = 0;
  do {
    const { data, response } = await tenant.api.GET('/v1/devices', { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } });
    expect(response.status).toBe(200);
    ids.push(...(data?.data.map((device) => device.id) ?? []));
    cursor = data?.next_cursor ?? undefined;
    page += 1;
    await between?.(page);
  } while (cursor);
  return ids;
}

describe('GET /v1/devices', () => {
  it('pages through 250 devices with no row skipped or repeated while others are registered', async () => {
    const tenant = await createTenant();
    await seedDevices(tenant, 250, Date.now() - 60_000);
    const original = await env.DB.prepare('SELECT id FROM devices WHERE org_id = ?1 ORDER BY created_at, id')
      .bind(tenant.orgId)
      .all<{ id: string }>();
    const ids = await pageAll(tenant, { limit: 40 }, async (page) => {
      if (page <= 3) await tenant.api.POST('/v1/devices', { body: { name: `late ${page}`, kind: 'phone' } });
    });
    expect(new Set(ids).size).toBe(ids.length);
    // Every device that existed before paging began is seen, in order, exactly once.
    expect(ids.slice(0, 250)).toEqual(original.results.map((row) => row.id));
    expect(ids).toHaveLength(253);
  });

  it('filters by status, kind and tag', async () => {
    const tenant = await createTenant();
    for (const [kind, status, tags] of [
      ['phone', 'active', ['red']],
      ['phone', 'disabled', ['red', 'blue']],
      ['iot', 'active', ['blue']],
    ] as const) {
      await tenant.api.POST('/v1/devices', { body: { name: `${kind} ${status}`, kind, status, tags: [...tags] } });
    }
    const names = async (query: Record<string, string>) =>
      ((await tenant.api.GET('/v1/devices', { params: { query } })).data?.data ?? []).map((device) => device.name).sort();
    expect(await names({ kind: 'phone' })).toEqual(['phone active', 'phone disabled']);
    expect(await names({ status: 'active' })).toEqual(['iot active', 'phone active']);
    expect(await names({ tag: 'blue' })).toEqual(['iot active', 'phone disabled']);
    expect(await names({ tag: 'blue', kind: 'phone', status: 'disabled' })).toEqual(['phone disabled']);
    expect(await names({ tag: 'green' })).toEqual([]);
  });

  it('searches name and external id, with % _ and \\ matching themselves', async () => {
    const tenant = await createTenant();
    for (const [name, externalId] of [
      ['100% uptime', 'a'],
      ['1000 uptime', 'b'],
      ['snake_case', 'c'],
      ['snakeXcase', 'd'],
      ['back\\slash', 'e'],
      ['plain', 'rack-12'],
    ]) {
      await tenant.api.POST('/v1/devices', { body: { name: name ?? '', kind: 'server', external_id: externalId ?? '' } });
    }
    const found = async (q: string) =>
      ((await tenant.api.GET('/v1/devices', { params: { query: { q } } })).data?.data ?? []).map((device) => device.name).sort();
    expect(await found('0%')).toEqual(['100% uptime']);
    expect(await found('e_c')).toEqual(['snake_case']);
    expect(await found('k\\s')).toEqual(['back\\slash']);
    expect(await found('%')).toEqual(['100% uptime']);
    expect(await found('UPTIME')).toEqual(['100% uptime', '1000 uptime']);
    expect(await found('rack-1')).toEqual(['plain']);
  });

  it('takes a q of the full 100 characters, however many bytes (D1 caps LIKE patterns at 50 bytes)', async () => {
    const tenant = await createTenant();
    const fancy = '𝓣'.repeat(100);
    await tenant.api.POST('/v1/devices', { body: { name: fancy, kind: 'other' } });
    const found = await tenant.api.GET('/v1/devices', { params: { query: { q: fancy } } });
    expect(found.response.status).toBe(200);
    expect(found.data?.data.map((device) => device.name)).toEqual([fancy]);
    const percents = await tenant.api.GET('/v1/devices', { params: { query: { q: '%'.repeat(100) } } });
    expect(percents.data?.data).toEqual([]);
  });

  it('refuses a tampered cursor, a cursor of another list and bad filters with 400', async () => {
    const tenant = await createTenant();
    await seedDevices(tenant, 3);
    await tenant.addKey();
    await tenant.addKey();
    const keysPage = await tenant.api.GET('/v1/api-keys', { params: { query: { limit: 1 } } });
    const foreignCursor = keysPage.data?.next_cursor ?? '';
    expect(foreignCursor).not.toBe('');
    await expectProblem(await tenant.api.GET('/v1/devices', { params: { query: { cursor: foreignCursor } } }), 400, 'validation_failed');
    await expectProblem(
      await tenant.api.GET('/v1/devices', { params: { query: { cursor: `${foreignCursor}x` } } }),
      400,
      'validation_failed',
    );
    await expectProblem(await tenant.api.GET('/v1/devices', { params: { query: { kind: 'toaster' as 'iot' } } }), 400, 'validation_failed');
    await expectProblem(await tenant.api.GET('/v1/devices', { params: { query: { q: '' } } }), 400, 'validation_failed');
  });
});
