import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../src/lib/api-key.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant } from '../../helpers/tenants.ts';
import { apiClient, callWorker } from '../../helpers/worker.ts';

const KEY_SECRET = /^sy_test_[0-9A-Za-z]{38}$/;

describe('POST /v1/api-keys', () => {
  it('creates a key, shows the secret once, stores only its hash, and the new key works', async () => {
    const tenant = await createTenant();
    const { data, response } = await tenant.api.POST('/v1/api-keys', { body: { name: 'reporting', scopes: ['audit:read'] } });
    expect(response.status).toBe(201);
    expect(data?.secret).toMatch(KEY_SECRET);
    expect(data?.prefix).toBe(data?.secret.slice(0, 12));
    expect(data).toMatchObject({
      name: 'reporting',
      mode: 'test',
      scopes: ['audit:read'],
      created_by: tenant.key.id,
      last_used_at: null,
      expires_at: null,
    });
    expect(response.headers.get('Location')).toBe(`/v1/api-keys/${data?.id}`);

    const row = await env.DB.prepare('SELECT * FROM api_keys WHERE id = ?1').bind(data?.id).first<Record<string, unknown>>();
    expect(row?.hash).toBe(await hashApiKey(data?.secret ?? ''));
    expect(JSON.stringify(row)).not.toContain(data?.secret);

    const read = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: data?.id ?? '' } } });
    expect(read.data).not.toHaveProperty('secret');

    const withNewKey = apiClient({ apiKey: data?.secret ?? '' });
    expect((await withNewKey.GET('/v1/audit-events')).response.status).toBe(200);
    // …and only what it was given.
    await expectProblem(await withNewKey.GET('/v1/api-keys'), 403, 'insufficient_scope');
  });

  it('never grants more scopes than the creating key holds', async () => {
    const tenant = await createTenant({ scopes: ['keys:admin', 'devices:read'] });
    const result = await tenant.api.POST('/v1/api-keys', { body: { name: 'escalate', scopes: ['devices:read', 'devices:write'] } });
    const problem = await expectProblem(result, 403, 'insufficient_scope');
    expect(problem.detail).toBe('A key cannot create a key with scopes it does not hold: devices:write.');
    const { response: allowed } = await tenant.api.POST('/v1/api-keys', { body: { name: 'subset', scopes: ['devices:read'] } });
    expect(allowed.status).toBe(201);
  });

  it.each([
    ['an empty name', { name: '', scopes: ['devices:read'] }, '/name'],
    ['a 101-character name', { name: 'x'.repeat(101), scopes: ['devices:read'] }, '/name'],
    ['no scopes', { name: 'a', scopes: [] }, '/scopes'],
    ['an unknown scope', { name: 'a', scopes: ['root'] }, '/scopes/0'],
    ['a repeated scope', { name: 'a', scopes: ['devices:read', 'devices:read'] }, '/scopes'],
    ['an unknown field', { name: 'a', scopes: ['devices:read'], admin: true }, '/admin'],
    ['a name of spaces', { name: '   ', scopes: ['devices:read'] }, '/name'],
    ['a lifetime under a minute', { name: 'a', scopes: ['devices:read'], expires_in_seconds: 59 }, '/expires_in_seconds'],
    ['a lifetime over 5 years', { name: 'a', scopes: ['devices:read'], expires_in_seconds: 5 * 366 * 86400 + 1 }, '/expires_in_seconds'],
    ['a fractional lifetime', { name: 'a', scopes: ['devices:read'], expires_in_seconds: 60.5 }, '/expires_in_seconds'],
  ])('refuses %s with a field error', async (_, body, pointer) => {
    const tenant = await createTenant();
    const response = await callWorker('/v1/api-keys', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const problem = await expectProblem(response, 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
  });

  it('accepts a 100-character name and a one-minute lifetime, and the key expires', async () => {
    const tenant = await createTenant();
    const { data, response } = await tenant.api.POST('/v1/api-keys', {
      body: { name: 'x'.repeat(100), scopes: ['devices:read'], expires_in_seconds: 60 },
    });
    expect(response.status).toBe(201);
    const expiresIn = Date.parse(data?.expires_at ?? '') - Date.now();
    expect(expiresIn).toBeGreaterThan(55_000);
    expect(expiresIn).toBeLessThanOrEqual(60_000);
  });
});

describe('GET /v1/api-keys', () => {
  it('pages through every key once, in creation order, across inserts between pages', async () => {
    const tenant = await createTenant();
    for (let index = 0; index < 24; index += 1) await tenant.addKey({ name: `key ${index}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { data, response } = await tenant.api.GET('/v1/api-keys', { params: { query: { limit: 7, ...(cursor ? { cursor } : {}) } } });
      expect(response.status).toBe(200);
      seen.push(...(data?.data.map((key) => key.id) ?? []));
      cursor = data?.next_cursor ?? undefined;
      pages += 1;
      if (pages === 2) await tenant.addKey({ name: 'inserted while paging' });
    } while (cursor);
    expect(seen).toHaveLength(26);
    expect(new Set(seen).size).toBe(26);
    expect(pages).toBe(4);
  });

  it.each([
    ['garbage', 'not-a-cursor!'],
    ['valid base64 of something else', btoa('{"v":1}')],
  ])('refuses a tampered cursor (%s) with 400', async (_, cursor) => {
    const tenant = await createTenant();
    const result = await tenant.api.GET('/v1/api-keys', { params: { query: { cursor } } });
    const problem = await expectProblem(result, 400, 'validation_failed');
    expect(problem.errors?.[0]).toMatchObject({ location: 'query', pointer: '/cursor', code: 'invalid_cursor' });
  });

  it("refuses another organisation's cursor", async () => {
    const alpha = await createTenant();
    const beta = await createTenant();
    for (let index = 0; index < 3; index += 1) await alpha.addKey();
    const page = await alpha.api.GET('/v1/api-keys', { params: { query: { limit: 1 } } });
    const cursor = page.data?.next_cursor ?? '';
    expect(cursor).not.toBe('');
    await expectProblem(await beta.api.GET('/v1/api-keys', { params: { query: { cursor } } }), 400, 'validation_failed');
  });

  it.each([0, 101, 'ten'])('refuses limit=%s', async (limit) => {
    const tenant = await createTenant();
    const response = await callWorker(`/v1/api-keys?limit=${limit}`, { headers: { Authorization: `Bearer ${tenant.key.secret}` } });
    const problem = await expectProblem(response, 400, 'validation_failed');
    expect(problem.errors?.[0]?.pointer).toBe('/limit');
  });
});

describe('DELETE /v1/api-keys/{id}', () => {
  it('revokes at once; the key is then not found, not listed, and cannot authenticate', async () => {
    const tenant = await createTenant();
    const victim = await tenant.addKey();
    // Used first, so this isolate has it cached: revocation must reach the cache too.
    expect((await apiClient({ apiKey: victim.secret }).GET('/v1/api-keys')).response.status).toBe(200);
    const { response } = await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: victim.id } } });
    expect(response.status).toBe(204);
    await expectProblem(await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: victim.id } } }), 404, 'not_found');
    const listed = await tenant.api.GET('/v1/api-keys');
    expect(listed.data?.data.map((key) => key.id)).not.toContain(victim.id);
    await expectProblem(await apiClient({ apiKey: victim.secret }).GET('/v1/api-keys'), 401, 'unauthorized');
    await expectProblem(await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: victim.id } } }), 404, 'not_found');
  });

  it('refuses to let a key revoke itself (409), and the key keeps working', async () => {
    const tenant = await createTenant();
    const result = await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: tenant.key.id } } });
    await expectProblem(result, 409, 'cannot_revoke_self');
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
  });

  it('writes exactly one audit event, even when revoked twice', async () => {
    const tenant = await createTenant();
    const victim = await tenant.addKey();
    await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: victim.id } } });
    await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: victim.id } } });
    const { data } = await tenant.api.GET('/v1/audit-events', { params: { query: { target_id: victim.id } } });
    expect(data?.data.map((event) => event.action)).toEqual(['api_key.revoked']);
  });
});

describe('POST /v1/api-keys/{id}/rotate', () => {
  it('issues a new secret; the old one keeps working for the grace period', async () => {
    const tenant = await createTenant();
    const old = await tenant.addKey({ scopes: ['keys:admin', 'audit:read'], name: 'rotating' });
    const { data, response } = await tenant.api.POST('/v1/api-keys/{id}/rotate', {
      params: { path: { id: old.id } },
      body: { grace_period_seconds: 3600 },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({ name: 'rotating', scopes: ['keys:admin', 'audit:read'] });
    expect(data?.id).not.toBe(old.id);
    expect(response.headers.get('Location')).toBe(`/v1/api-keys/${data?.id}`);
    expect((await apiClient({ apiKey: data?.secret ?? '' }).GET('/v1/api-keys')).response.status).toBe(200);
    expect((await apiClient({ apiKey: old.secret }).GET('/v1/api-keys')).response.status).toBe(200);
    const oldNow = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: old.id } } });
    const expiry = Date.parse(oldNow.data?.expires_at ?? '');
    expect(expiry).toBeGreaterThan(Date.now() + 3_500_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 3_600_000);
  });

  it('with a grace period of 0, the old secret stops at once', async () => {
    const tenant = await createTenant();
    const old = await tenant.addKey();
    expect((await apiClient({ apiKey: old.secret }).GET('/v1/api-keys')).response.status).toBe(200);
    const { response } = await tenant.api.POST('/v1/api-keys/{id}/rotate', {
      params: { path: { id: old.id } },
      body: { grace_period_seconds: 0 },
    });
    expect(response.status).toBe(201);
    await expectProblem(await apiClient({ apiKey: old.secret }).GET('/v1/api-keys'), 401, 'unauthorized');
  });

  it('never extends the old key past its own expiry', async () => {
    const tenant = await createTenant();
    const old = await tenant.addKey({ expiresInMs: 60_000 });
    const before = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: old.id } } });
    await tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: old.id } }, body: { grace_period_seconds: 604800 } });
    const after = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: old.id } } });
    expect(after.data?.expires_at).toBe(before.data?.expires_at);
  });

  it('refuses a second rotation of the same key with 409, and a grace period over 7 days with 400', async () => {
    const tenant = await createTenant();
    const old = await tenant.addKey();
    await tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: old.id } }, body: {} });
    const again = await tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: old.id } }, body: {} });
    await expectProblem(again, 409, 'key_already_rotated');
    const tooLong = await tenant.api.POST('/v1/api-keys/{id}/rotate', {
      params: { path: { id: tenant.key.id } },
      body: { grace_period_seconds: 604801 },
    });
    await expectProblem(tooLong, 400, 'validation_failed');
  });
});
