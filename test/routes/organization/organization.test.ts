/**
 * GET and PATCH /v1/organization: the caller's own organisation, its ETag and If-Match, a strict
 * body, the audit row and the `organization.updated` event of a change, and the attacker's view
 * (a key sees only its own organisation; each operation needs its scope).
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newId } from '../../../src/lib/ids.ts';
import { API_VERSIONS, NEWEST_API_VERSION } from '../../../src/versions/versions.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant } from '../../helpers/tenants.ts';
import { apiClient } from '../../helpers/worker.ts';

const [FIRST] = API_VERSIONS;

describe('GET /v1/organization', () => {
  it('shows the caller’s organisation, pinned to the newest version at creation, with its ETag', async () => {
    const tenant = await createTenant({ plan: 'pro' });
    const { data, response } = await tenant.api.GET('/v1/organization');
    expect(response.status).toBe(200);
    expect(data).toMatchObject({ id: tenant.orgId, name: 'Test org', plan: 'pro', default_api_version: NEWEST_API_VERSION, version: 1 });
    expect(data?.updated_at).toBeNull();
    expect(response.headers.get('ETag')).toBe('"v1"');
    // An ETagged representation depends on the version it is rendered in.
    expect(response.headers.get('Vary')).toContain('Switchyard-Version');
  });

  it('shows each key only its own organisation', async () => {
    const mine = await createTenant();
    const theirs = await createTenant();
    await theirs.api.PATCH('/v1/organization', { body: { name: 'Theirs' } });
    const { data } = await mine.api.GET('/v1/organization');
    expect(data?.id).toBe(mine.orgId);
    expect(data?.name).toBe('Test org');
  });

  it('needs organization:read', async () => {
    const tenant = await createTenant({ scopes: ['devices:read'] });
    await expectProblem(await tenant.api.GET('/v1/organization'), 403, 'insufficient_scope');
  });

  it('reads an organisation made before versions existed as pinned to the first (migration 0016)', async () => {
    const tenant = await createTenant();
    // A row written as the code before 0016 wrote it, naming no version: the column's default applies.
    const orgId = newId('organization');
    await env.DB.prepare(
      "INSERT INTO organizations (id, name, plan, rate_limit_read, rate_limit_write, rate_limit_token, is_demo, created_at) VALUES (?1, 'Old', 'free', 600, 120, 60, 0, ?2)",
    )
      .bind(orgId, new Date().toISOString())
      .run();
    await env.DB.prepare('UPDATE api_keys SET org_id = ?2 WHERE id = ?1').bind(tenant.key.id, orgId).run();
    const { data, response } = await apiClient({ apiKey: tenant.key.secret, apiVersion: null }).GET('/v1/organization');
    expect(data).toMatchObject({ id: orgId, default_api_version: FIRST, version: 1, updated_at: null });
    expect(response.headers.get('Switchyard-Version')).toBe(FIRST);
  });
});

describe('PATCH /v1/organization', () => {
  it('renames and re-pins the organisation, with an audit row and an organization.updated event', async () => {
    const tenant = await createTenant();
    const { data, response } = await tenant.api.PATCH('/v1/organization', { body: { name: 'Acme', default_api_version: FIRST } });
    expect(response.status).toBe(200);
    expect(data).toMatchObject({ name: 'Acme', default_api_version: FIRST, version: 2 });
    expect(data?.updated_at).toEqual(expect.any(String));
    expect(response.headers.get('ETag')).toBe('"v2"');
    expect((await tenant.api.GET('/v1/organization')).data).toEqual(data);

    const audit = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'organization.updated' } } });
    expect(audit.data?.data).toEqual([
      expect.objectContaining({
        action: 'organization.updated',
        target_type: 'organization',
        target_id: tenant.orgId,
        actor_key_id: tenant.key.id,
      }),
    ]);
    const events = await tenant.api.GET('/v1/events', { params: { query: { type: 'organization.updated' } } });
    expect(events.data?.data.map((event) => event.data)).toEqual([data]);
  });

  it('changes only under If-Match naming the current version (412 otherwise)', async () => {
    const tenant = await createTenant();
    const stale = await tenant.api.PATCH('/v1/organization', { params: { header: { 'If-Match': '"v9"' } }, body: { name: 'Nope' } });
    await expectProblem(stale, 412, 'precondition_failed');
    const current = await tenant.api.PATCH('/v1/organization', { params: { header: { 'If-Match': '"v1"' } }, body: { name: 'Yes' } });
    expect(current.data?.name).toBe('Yes');
    expect((await tenant.api.GET('/v1/organization')).data?.version).toBe(2);
  });

  it.each([
    ['an unknown field', { plan: 'enterprise' }, '/plan'],
    ['an unknown version', { default_api_version: '2020-01-01' }, '/default_api_version'],
    ['an empty name', { name: ' ' }, '/name'],
    ['no field', {}, ''],
  ])('refuses %s with 400 and changes nothing', async (_label, body, pointer) => {
    const tenant = await createTenant();
    const refused = await tenant.api.PATCH('/v1/organization', { body: body as { name: string } });
    const problem = await expectProblem(refused, 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
    expect((await tenant.api.GET('/v1/organization')).data?.version).toBe(1);
  });

  it('needs organization:admin (organization:read is not enough), and changes nothing without it', async () => {
    const tenant = await createTenant();
    const reader = apiClient({ apiKey: (await tenant.addKey({ scopes: ['organization:read'] })).secret });
    await expectProblem(await reader.PATCH('/v1/organization', { body: { name: 'Hijacked' } }), 403, 'insufficient_scope');
    expect((await tenant.api.GET('/v1/organization')).data?.name).toBe('Test org');
  });
});
