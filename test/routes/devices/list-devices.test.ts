import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { insertDevice, listDevices } from '../../../src/db/devices.ts';
import { FILTERED_PAGE_SCAN_ROWS } from '../../../src/db/page.ts';
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

/** The id the sparse-search test seeds its `n`th device with (22 characters after `dev_`, as ids have). */
function scanId(n: number): string {
  return `dev_scan${String(n).padStart(18, '0')}`;
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

  it('examines at most FILTERED_PAGE_SCAN_ROWS devices per filtered page: a sparse search answers short pages that continue', async () => {
    const tenant = await createTenant();
    const total = 2 * FILTERED_PAGE_SCAN_ROWS + 10;
    // Rows by one statement (seeding 10,010 through the API would take minutes); the one match is the last device.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO devices (id, org_id, name, kind, external_id, created_at, updated_at)
       SELECT printf('dev_scan%018d', i), ?1, 'unit ' || i, 'iot', CASE WHEN i = ?2 THEN 'needle-7' END,
              strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || i || ' seconds'), '2026-01-01T00:00:00.000Z' FROM n`,
    )
      .bind(tenant.orgId, total)
      .run();

    const pages: Array<{ ids: string[]; next: string | null }> = [];
    let cursor: string | undefined;
    do {
      const { data, response } = await tenant.api.GET('/v1/devices', {
        params: { query: { q: 'NEEDLE', limit: 50, ...(cursor ? { cursor } : {}) } },
      });
      expect(response.status).toBe(200);
      pages.push({ ids: data?.data.map((device) => device.id) ?? [], next: data?.next_cursor ?? null });
      cursor = data?.next_cursor ?? undefined;
    } while (cursor !== undefined && pages.length < 10);
    // 5,000 devices examined, then 5,000, then the last 10 with the match; a page that found nothing still continues.
    expect(pages).toEqual([
      { ids: [], next: expect.any(String) },
      { ids: [], next: expect.any(String) },
      { ids: [scanId(total)], next: null },
    ]);

    // What one filtered page reads from D1 is bounded by the examined rows, not by the table.
    const reads: number[] = [];
    const db = {
      prepare: (sql: string) => {
        const statement = env.DB.prepare(sql);
        return {
          bind: (...values: unknown[]) => {
            const bound = statement.bind(...values);
            return {
              all: async () => {
                const result = await bound.all();
                reads.push(result.meta.rows_read);
                return result;
              },
            };
          },
        };
      },
    } as unknown as D1Database;
    const page = await listDevices(db, tenant.orgId, { q: 'needle' }, 50, undefined);
    expect(page).toMatchObject({
      items: [],
      hasMore: true,
      resumeAfter: { id: scanId(FILTERED_PAGE_SCAN_ROWS) },
    });
    expect(reads).toHaveLength(1);
    expect(reads[0]).toBeLessThanOrEqual(2 * FILTERED_PAGE_SCAN_ROWS + 10);
    expect(reads[0]).toBeGreaterThanOrEqual(FILTERED_PAGE_SCAN_ROWS);
  });

  it('ends a filtered page at its limit when matches are dense, and pages them all in order', async () => {
    const tenant = await createTenant();
    await seedDevices(tenant, 120, Date.now() - 60_000);
    const all = await pageAll(tenant, { limit: 25, q: 'device 1' });
    const expected = await env.DB.prepare(
      "SELECT id FROM devices WHERE org_id = ?1 AND instr(lower(name), 'device 1') > 0 ORDER BY created_at, id",
    )
      .bind(tenant.orgId)
      .all<{ id: string }>();
    expect(expected.results.length).toBeGreaterThan(25);
    expect(all).toEqual(expected.results.map((row) => row.id));
  });
});
