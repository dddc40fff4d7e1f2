/**
 * Organisation exports (issue 17 §2): asked for, written by the export Workflow in the Workers
 * runtime's local engine, followed, downloaded as a tar of NDJSON parts, and expired.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/logger.ts';
import { runRetention } from '../../../src/scheduled.ts';
import { downloadArchive, insertQueuedExport, readArchive, readExport, runExport, workerConfig } from '../../helpers/exports.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';

/** An organisation with some of everything the archive holds. */
async function populate(tenant: Tenant, label: string) {
  const devices = [];
  for (let index = 0; index < 3; index += 1) {
    const created = await tenant.api.POST('/v1/devices', {
      body: { name: `${label} device ${index}`, kind: 'iot', external_id: `${label}-${index}`, tags: ['export'], metadata: { index } },
    });
    devices.push(created.data?.id ?? '');
  }
  const session = (await tenant.api.POST('/v1/sessions', { body: { allowed_device_ids: devices.slice(0, 2) } })).data?.id ?? '';
  const quiet = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
  for (let index = 0; index < 4; index += 1) {
    await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: session } }, body: { payload: { label, index } } });
  }
  const key = (await tenant.api.POST('/v1/api-keys', { body: { name: `${label} reader`, scopes: ['devices:read'] } })).data;
  const endpoint = (
    await tenant.api.POST('/v1/webhook-endpoints', { body: { url: `https://hooks.example.com/${label}`, event_types: ['device.created'] } })
  ).data;
  return { devices, session, quiet, keySecret: key?.secret ?? '', endpointSecret: endpoint?.secret ?? '' };
}

describe('POST /v1/organization/exports', () => {
  it('exports every resource of the organisation, as the API presents it, and nothing of another', async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const seeded = await populate(tenant, 'mine');
    await populate(other, 'theirs');

    const done = await runExport(tenant);
    expect(done).toMatchObject({ status: 'succeeded', error_code: null, archive_url: `/v1/organization/exports/${done.id}/archive` });
    const download = await downloadArchive(tenant, done.id);
    const { response } = download;
    expect(response.headers.get('Content-Type')).toBe('application/x-tar');
    expect(response.headers.get('Cache-Control')).toBe('no-store');
    expect(response.headers.get('Content-Disposition')).toBe(`attachment; filename="switchyard-export-${done.id}.tar"`);
    expect(Number(response.headers.get('Content-Length'))).toBe(done.size_bytes);
    const archive = await readArchive(download);
    const text = [...archive.files.values()].join('\n');

    // Every line is what the API's own list returns, in the same order.
    const listed = async (
      path: '/v1/devices' | '/v1/sessions' | '/v1/api-keys' | '/v1/webhook-endpoints' | '/v1/audit-events' | '/v1/events',
    ) => ((await tenant.api.GET(path, { params: { query: { limit: 100 } } })).data?.data ?? []) as unknown[];
    expect(archive.lines.devices).toEqual(await listed('/v1/devices'));
    expect(archive.lines.sessions).toEqual(await listed('/v1/sessions'));
    expect(archive.lines.api_keys).toEqual(await listed('/v1/api-keys'));
    expect(archive.lines.webhook_endpoints).toEqual(await listed('/v1/webhook-endpoints'));
    // The export's request is audited and emitted before the archive is read, so it is in it; its
    // success and the download after, so they are not.
    const audit = (await listed('/v1/audit-events')) as Array<{ action: string }>;
    expect(archive.lines.audit_events).toEqual(audit.filter((event) => event.action !== 'organization_export.downloaded'));
    const events = (await listed('/v1/events')) as Array<{ type: string }>;
    expect(archive.lines.events).toEqual(
      events.filter((event) => !event.type.startsWith('organization_export.') || event.type === 'organization_export.created'),
    );
    const history = await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: seeded.session } } });
    expect(archive.lines.messages).toEqual((history.data?.data ?? []).map((message) => ({ session_id: seeded.session, ...message })));
    expect(archive.lines.messages).toHaveLength(4);

    expect(archive.manifest).toMatchObject({
      format: 'switchyard-organization-export',
      format_version: 1,
      export_id: done.id,
      organization_id: tenant.orgId,
      created_at: done.created_at,
      completed_at: done.completed_at,
    });
    expect(done.progress).toEqual(Object.fromEntries(Object.entries(archive.manifest.resources).map(([name, { lines }]) => [name, lines])));
    // No secret, no hash, nothing of the other organisation.
    const hashes = await env.DB.prepare('SELECT hash FROM api_keys WHERE org_id = ?1').bind(tenant.orgId).all<{ hash: string }>();
    for (const { hash } of hashes.results) expect(text).not.toContain(hash);
    expect(text).not.toContain(seeded.keySecret);
    expect(text).not.toContain(seeded.endpointSecret);
    expect(text).not.toMatch(/whsec_|"secret"|"hash"|secret_sealed/);
    expect(text).not.toContain('theirs');
    expect(text).not.toContain(other.orgId);
  });

  it('refuses a second export while one is in progress, and records who asked', async () => {
    const tenant = await createTenant();
    const running = await insertExport(tenant, 'running');
    await expectProblem(await tenant.api.POST('/v1/organization/exports'), 409, 'export_in_progress');
    await env.DB.prepare("UPDATE organization_exports SET status = 'failed', completed_at = ?2, expires_at = ?2 WHERE id = ?1")
      .bind(running, new Date().toISOString())
      .run();
    const first = await tenant.api.POST('/v1/organization/exports');
    expect(first.response.status).toBe(202);
    expect(first.response.headers.get('Location')).toBe(`/v1/organization/exports/${first.data?.id}`);
    expect(first.data).toMatchObject({ status: 'queued', created_by: tenant.key.id, archive_url: null, expires_at: null });
    const audit = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'organization_export.created' } } });
    expect(audit.data?.data[0]).toMatchObject({
      target_type: 'organization_export',
      target_id: first.data?.id,
      actor_key_id: tenant.key.id,
    });
  });

  it('answers a replay with the same Idempotency-Key with the first export', async () => {
    const tenant = await createTenant();
    const headers = { 'Idempotency-Key': 'export-once' };
    const first = await tenant.api.POST('/v1/organization/exports', { params: { header: headers } });
    const again = await tenant.api.POST('/v1/organization/exports', { params: { header: headers } });
    expect(again.response.status).toBe(202);
    expect(again.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(again.data?.id).toBe(first.data?.id);
  });
});

describe('GET /v1/organization/exports…', () => {
  it("is a 404 for another organisation's export, a 403 without organization:export", async () => {
    const tenant = await createTenant();
    const done = await runExport(tenant);
    const other = await createTenant();
    await expectProblem(await other.api.GET('/v1/organization/exports/{id}', { params: { path: { id: done.id } } }), 404, 'not_found');
    await expectProblem(await downloadArchive(other, done.id), 404, 'not_found');
    expect((await other.api.GET('/v1/organization/exports')).data?.data).toEqual([]);
    const narrow = await tenant.addKey({ scopes: ['organization:read', 'devices:read'] });
    const { apiClient } = await import('../../helpers/worker.ts');
    const client = apiClient({ apiKey: narrow.secret });
    await expectProblem(
      await client.GET('/v1/organization/exports/{id}', { params: { path: { id: done.id } } }),
      403,
      'insufficient_scope',
    );
    await expectProblem(await client.POST('/v1/organization/exports'), 403, 'insufficient_scope');
    await expectProblem(
      await client.GET('/v1/organization/exports/{id}/archive', { params: { path: { id: done.id } }, parseAs: 'stream' }),
      403,
      'insufficient_scope',
    );
  });

  it('lists exports oldest first, a page at a time', async () => {
    const tenant = await createTenant();
    const first = await runExport(tenant);
    const second = await runExport(tenant);
    const page = await tenant.api.GET('/v1/organization/exports', { params: { query: { limit: 1 } } });
    expect(page.data?.data.map((item) => item.id)).toEqual([first.id]);
    const next = await tenant.api.GET('/v1/organization/exports', {
      params: { query: { limit: 1, cursor: page.data?.next_cursor ?? '' } },
    });
    expect(next.data?.data.map((item) => item.id)).toEqual([second.id]);
    expect(next.data?.next_cursor).toBeNull();
  });

  it('refuses to download an archive that is not ready, or failed, and audits every download', async () => {
    const tenant = await createTenant();
    for (const status of ['queued', 'running'] as const) {
      const id = await insertExport(tenant, status);
      await expectProblem(await downloadArchive(tenant, id), 409, 'export_not_ready');
      await env.DB.prepare('DELETE FROM organization_exports WHERE id = ?1').bind(id).run();
    }
    const failed = await insertExport(tenant, 'failed');
    const problem = await expectProblem(await downloadArchive(tenant, failed), 409, 'export_not_ready');
    expect(problem.detail).toContain('failed');

    const done = await runExport(tenant);
    await readArchive(await downloadArchive(tenant, done.id));
    const audit = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'organization_export.downloaded' } } });
    expect(audit.data?.data[0]).toMatchObject({ target_id: done.id, actor_key_id: tenant.key.id });
  });

  it('expires an archive after 7 days: the hourly retention deletes its objects, and a download is a 410', async () => {
    const tenant = await createTenant();
    await populate(tenant, 'expiring');
    const done = await runExport(tenant);
    const expiresIn = Date.parse(done.expires_at ?? '') - Date.parse(done.completed_at ?? '');
    expect(expiresIn).toBe(7 * 24 * 60 * 60 * 1000);
    const prefix = `orgs/${tenant.orgId}/exports/${done.id}/`;
    expect((await env.EXPORTS.list({ prefix })).objects.length).toBeGreaterThan(1);

    // Not yet due: an hour's run leaves it.
    await runRetention(workerConfig(), createLogger('error'), new Date());
    expect((await readExport(tenant, done.id)).status).toBe('succeeded');
    // Past its expiry, before the run: already refused.
    await runRetention(workerConfig(), createLogger('error'), new Date(Date.parse(done.expires_at ?? '') + 1000));
    expect((await readExport(tenant, done.id)).status).toBe('expired');
    expect((await env.EXPORTS.list({ prefix })).objects).toEqual([]);
    await expectProblem(await downloadArchive(tenant, done.id), 410, 'export_expired');
  });
});

async function insertExport(tenant: Tenant, status: 'queued' | 'running' | 'failed'): Promise<string> {
  const id = await insertQueuedExport(tenant);
  const now = new Date().toISOString();
  if (status === 'running')
    await env.DB.prepare("UPDATE organization_exports SET status = 'running', started_at = ?2 WHERE id = ?1").bind(id, now).run();
  if (status === 'failed') {
    await env.DB.prepare(
      "UPDATE organization_exports SET status = 'failed', completed_at = ?2, expires_at = ?3, error_code = 'step_failed' WHERE id = ?1",
    )
      .bind(id, now, new Date(Date.now() + 60_000).toISOString())
      .run();
  }
  return id;
}
