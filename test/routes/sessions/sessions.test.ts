import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { verifyConnectToken } from '../../../src/lib/session-token.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { callWorker } from '../../helpers/worker.ts';

const SECRET = env.SESSION_JWT_SECRET ?? '';

async function openSession(tenant: Tenant, body: Record<string, unknown> = {}) {
  const { data, response } = await tenant.api.POST('/v1/sessions', { body });
  expect(response.status, JSON.stringify(data)).toBe(201);
  if (!data) throw new Error('no session');
  return { session: data, response };
}

async function registerDevice(tenant: Tenant, status: 'active' | 'disabled' = 'active') {
  const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'participant', kind: 'phone', status } });
  return data?.id ?? '';
}

describe('sessions', () => {
  it('opens with defaults, Location, and reads back', async () => {
    const tenant = await createTenant();
    const { session, response } = await openSession(tenant);
    expect(session).toMatchObject({ status: 'active', allowed_device_ids: null, max_connections: 100, ended_at: null, end_reason: null });
    expect(session.id).toMatch(/^ses_[0-9A-Za-z]{22}$/);
    expect(response.headers.get('Location')).toBe(`/v1/sessions/${session.id}`);
    const lifetime = Date.parse(session.expires_at) - Date.parse(session.created_at);
    expect(lifetime).toBe(3_600_000);
    const read = await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: session.id } } });
    expect(read.data).toEqual(session);
  });

  it.each([
    ['max_connections 0', { max_connections: 0 }, '/max_connections'],
    ['max_connections 1001', { max_connections: 1001 }, '/max_connections'],
    ['a TTL under a minute', { ttl_seconds: 59 }, '/ttl_seconds'],
    ['a TTL over 24 h', { ttl_seconds: 86_401 }, '/ttl_seconds'],
    ['an empty allow-list', { allowed_device_ids: [] }, '/allowed_device_ids'],
    ['a malformed device id', { allowed_device_ids: ['phone-1'] }, '/allowed_device_ids/0'],
    ['an unknown field', { topic: 'x' }, '/topic'],
  ])('refuses %s with 400', async (_, body, pointer) => {
    const tenant = await createTenant();
    const problem = await expectProblem(await tenant.api.POST('/v1/sessions', { body: body as never }), 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
  });

  it('needs a body, even though every field is optional ({} is the empty request)', async () => {
    const tenant = await createTenant();
    const response = await callWorker('/v1/sessions', { method: 'POST', headers: { Authorization: `Bearer ${tenant.key.secret}` } });
    await expectProblem(response, 400, 'malformed_request');
  });

  it('accepts the bounds: 1 and 1000 participants, 60 s and 24 h', async () => {
    const tenant = await createTenant();
    for (const body of [
      { max_connections: 1, ttl_seconds: 60 },
      { max_connections: 1000, ttl_seconds: 86_400 },
    ])
      await openSession(tenant, body);
  });

  it("refuses an allow-list naming a device that is not the organisation's, with 404 naming it", async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const mine = await registerDevice(tenant);
    const theirs = await registerDevice(other);
    const problem = await expectProblem(
      await tenant.api.POST('/v1/sessions', { body: { allowed_device_ids: [mine, theirs] } }),
      404,
      'not_found',
    );
    expect(problem.errors?.[0]?.pointer).toBe('/allowed_device_ids/1');
  });

  it('ends once; ending again answers the same; an expired session reads as ended and lists as ended', async () => {
    const tenant = await createTenant();
    const { session } = await openSession(tenant);
    const ended = await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session.id } } });
    expect(ended.data).toMatchObject({ status: 'ended', end_reason: 'ended' });
    const again = await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session.id } } });
    expect(again.data).toEqual(ended.data);
    const events = await tenant.api.GET('/v1/audit-events', { params: { query: { target_id: session.id } } });
    expect(events.data?.data.map((event) => event.action)).toEqual(['session.created', 'session.ended']);

    const { session: expiring } = await openSession(tenant);
    await env.DB.prepare("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?1").bind(expiring.id).run();
    const expired = await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: expiring.id } } });
    expect(expired.data).toMatchObject({ status: 'ended', end_reason: 'expired', ended_at: '2000-01-01T00:00:00.000Z' });
    const { session: active } = await openSession(tenant);
    const list = async (status: 'active' | 'ended') =>
      (await tenant.api.GET('/v1/sessions', { params: { query: { status } } })).data?.data.map((item) => item.id);
    expect(await list('active')).toEqual([active.id]);
    expect(await list('ended')).toEqual([session.id, expiring.id]);
  });
});

describe('connect tokens', () => {
  it('mints a verifiable HS256 token for a client label, bound to the session', async () => {
    const tenant = await createTenant();
    const { session } = await openSession(tenant);
    const { data, response } = await tenant.api.POST('/v1/sessions/{id}/tokens', {
      params: { path: { id: session.id } },
      body: { participant: 'client:agent-7', ttl_seconds: 120 },
    });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({ session_id: session.id, participant: 'client:agent-7' });
    const claims = await verifyConnectToken(SECRET, data?.token ?? '', session.id);
    expect(claims).toMatchObject({ sub: 'client:agent-7', sid: session.id, org: tenant.orgId });
    expect(claims.exp * 1000).toBe(Date.parse(data?.expires_at ?? ''));
    expect(claims.exp * 1000 - Date.now()).toBeLessThanOrEqual(120_000);
    const header = JSON.parse(atob((data?.token ?? '').split('.')[0] ?? ''));
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('never outlives the session', async () => {
    const tenant = await createTenant();
    const { session } = await openSession(tenant, { ttl_seconds: 60 });
    const { data } = await tenant.api.POST('/v1/sessions/{id}/tokens', {
      params: { path: { id: session.id } },
      body: { participant: 'client:x', ttl_seconds: 900 },
    });
    expect(Date.parse(data?.expires_at ?? '')).toBeLessThanOrEqual(Date.parse(session.expires_at));
  });

  it('admits devices of the allow-list only, and only active ones', async () => {
    const tenant = await createTenant();
    const allowed = await registerDevice(tenant);
    const outsider = await registerDevice(tenant);
    const disabled = await registerDevice(tenant, 'disabled');
    const { session } = await openSession(tenant, { allowed_device_ids: [allowed, disabled] });
    const mint = (participant: string) =>
      tenant.api.POST('/v1/sessions/{id}/tokens', { params: { path: { id: session.id } }, body: { participant } });
    expect((await mint(allowed)).response.status).toBe(201);
    await expectProblem(await mint(outsider), 403, 'participant_not_allowed');
    await expectProblem(await mint(disabled), 403, 'participant_not_allowed');
    await expectProblem(await mint('client:anyone'), 403, 'participant_not_allowed');
    await expectProblem(await mint(`dev_${'0'.repeat(22)}`), 403, 'participant_not_allowed');
  });

  it('refuses an ended session with 409 and a malformed participant with 400', async () => {
    const tenant = await createTenant();
    const { session } = await openSession(tenant);
    await expectProblem(
      await tenant.api.POST('/v1/sessions/{id}/tokens', { params: { path: { id: session.id } }, body: { participant: 'agent 7' } }),
      400,
      'validation_failed',
    );
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session.id } } });
    await expectProblem(
      await tenant.api.POST('/v1/sessions/{id}/tokens', { params: { path: { id: session.id } }, body: { participant: 'client:late' } }),
      409,
      'session_ended',
    );
  });

  it('counts against the token rate limit', async () => {
    const tenant = await createTenant();
    await tenant.setLimits({ token: 2 });
    const { session } = await openSession(tenant);
    const statuses = [];
    for (let index = 0; index < 3; index += 1) {
      const { response } = await tenant.api.POST('/v1/sessions/{id}/tokens', {
        params: { path: { id: session.id } },
        body: { participant: 'client:x' },
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([201, 201, 429]);
  });
});
