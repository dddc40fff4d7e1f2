/**
 * Dated API versions in the Workers runtime, through the generated client: which version a request
 * is rendered in (its header, else its organisation's default, else the newest), the refusal of an
 * unknown one, the version named on every response, the real change of 2026-12-08 seen both ways
 * (responses, a request, events, webhooks, idempotent replays), and the client's pin.
 */
import { describe, expect, it } from 'vitest';
import { createSwitchyardClient, type SwitchyardDebugEvent } from '../../generated/client.ts';
import { API_VERSIONS, NEWEST_API_VERSION } from '../../src/versions/versions.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { createReceivingEndpoint, dispatched, receivedBy, runDueDeliveries } from '../helpers/webhooks.ts';
import { apiClient, BASE_URL, callWorker } from '../helpers/worker.ts';

const [FIRST] = API_VERSIONS;
const HEADER = 'Switchyard-Version';

/** A tenant whose organisation is pinned to the first version, as one created before 2026-12-08 is. */
async function pinnedToFirst(): Promise<Tenant> {
  const tenant = await createTenant();
  const { response } = await tenant.api.PATCH('/v1/organization', { body: { default_api_version: FIRST } });
  expect(response.status).toBe(200);
  return tenant;
}

/** A client of the tenant that sends no version header: the organisation's default applies. */
function unpinned(tenant: Tenant) {
  return apiClient({ apiKey: tenant.key.secret, apiVersion: null });
}

function old(tenant: Tenant) {
  return apiClient({ apiKey: tenant.key.secret, apiVersion: FIRST });
}

describe('which version a request is rendered in', () => {
  it('without the header, the organisation’s default', async () => {
    const tenant = await pinnedToFirst();
    const { data, response } = await unpinned(tenant).POST('/v1/sessions', { body: {} });
    expect(response.headers.get(HEADER)).toBe(FIRST);
    expect(data).toHaveProperty('max_participants', 100);
    expect(data).not.toHaveProperty('max_connections');
  });

  it('with the header, that version, whatever the default', async () => {
    const tenant = await pinnedToFirst();
    const { data, response } = await tenant.api.POST('/v1/sessions', { body: {} });
    expect(response.headers.get(HEADER)).toBe(NEWEST_API_VERSION);
    expect(data?.max_connections).toBe(100);
    expect(data).not.toHaveProperty('max_participants');
  });

  it('without an API key and without the header, the newest', async () => {
    const response = await callWorker('/health');
    expect(response.headers.get(HEADER)).toBe(NEWEST_API_VERSION);
    expect((await callWorker('/health', { headers: { [HEADER]: FIRST } })).headers.get(HEADER)).toBe(FIRST);
  });

  it.each([
    ['an unknown date', '2020-01-01', 'is not a version of this API'],
    ['a malformed one', 'latest', 'is not a `YYYY-MM-DD` date'],
    ['an empty one', '', 'is not a `YYYY-MM-DD` date'],
  ])('refuses %s with 400 invalid_api_version naming the versions, before anything is done', async (_label, value, why) => {
    const tenant = await createTenant();
    const response = await callWorker('/v1/sessions', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', [HEADER]: value },
      body: '{}',
    });
    expect(response.headers.get(HEADER)).toBe(NEWEST_API_VERSION);
    const problem = await expectProblem(response, 400, 'invalid_api_version');
    expect(problem.detail).toContain(why);
    for (const version of API_VERSIONS) expect(problem.detail).toContain(version);
    expect((await tenant.api.GET('/v1/sessions')).data?.data).toEqual([]);
  });

  it('follows a change of the default at once on this isolate (every isolate within the 30 s key cache)', async () => {
    const tenant = await createTenant();
    const client = unpinned(tenant);
    // The key is cached now, with the organisation's default.
    expect((await client.GET('/v1/sessions')).response.headers.get(HEADER)).toBe(NEWEST_API_VERSION);
    await tenant.api.PATCH('/v1/organization', { body: { default_api_version: FIRST } });
    expect((await client.GET('/v1/sessions')).response.headers.get(HEADER)).toBe(FIRST);
    await tenant.api.PATCH('/v1/organization', { body: { default_api_version: NEWEST_API_VERSION } });
    expect((await client.GET('/v1/sessions')).response.headers.get(HEADER)).toBe(NEWEST_API_VERSION);
  });
});

describe('every response names its version', () => {
  it.each([
    ['a 404 of no route', '/v1/nothing-here', {}, 404],
    ['a 401', '/v1/devices', {}, 401],
    ['a 405', '/health', { method: 'DELETE' }, 405],
    ['a 400', '/health?unknown=1', {}, 400],
    ['the spec', '/openapi.json', {}, 200],
  ])('%s', async (_label, path, init, status) => {
    for (const version of API_VERSIONS) {
      const response = await callWorker(path, { ...init, headers: { [HEADER]: version } });
      expect(response.status).toBe(status);
      expect(response.headers.get(HEADER)).toBe(version);
    }
  });

  it('an authenticated error, in the organisation’s default', async () => {
    const tenant = await pinnedToFirst();
    const missing = await unpinned(tenant).GET('/v1/sessions/{id}', { params: { path: { id: `ses_${'0'.repeat(22)}` } } });
    await expectProblem(missing, 404, 'not_found');
    expect(missing.response.headers.get(HEADER)).toBe(FIRST);
    const invalid = await unpinned(tenant).GET('/v1/sessions', { params: { query: { limit: 0 } } });
    await expectProblem(invalid, 400, 'validation_failed');
    expect(invalid.response.headers.get(HEADER)).toBe(FIRST);
  });
});

describe('2026-12-08: a client pinned to 2026-12-01 keeps max_participants', () => {
  it('in every response that shows a session, and a newest client never sees it', async () => {
    const tenant = await createTenant();
    const created = (await tenant.api.POST('/v1/sessions', { body: { max_connections: 7 } })).data;
    const id = created?.id ?? '';
    expect(created?.max_connections).toBe(7);
    const got = await old(tenant).GET('/v1/sessions/{id}', { params: { path: { id } } });
    expect(got.data).toHaveProperty('max_participants', 7);
    expect(got.data).not.toHaveProperty('max_connections');
    // In its place: an old client that reads fields by position or prints them sees no reordering.
    expect(Object.keys(got.data ?? {})).toEqual(
      Object.keys(created ?? {}).map((key) => (key === 'max_connections' ? 'max_participants' : key)),
    );
    const listed = await old(tenant).GET('/v1/sessions');
    expect(listed.data?.data[0]).toHaveProperty('max_participants', 7);
    const ended = await old(tenant).POST('/v1/sessions/{id}/end', { params: { path: { id } } });
    expect(ended.data).toHaveProperty('max_participants', 7);
    const newest = await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id } } });
    expect(newest.data).not.toHaveProperty('max_participants');
  });

  it('in the request that opens a session: the old name is taken as the new', async () => {
    const tenant = await createTenant();
    const body = { max_participants: 3 } as unknown as { max_connections: number };
    const created = await old(tenant).POST('/v1/sessions', { body });
    expect(created.response.status).toBe(201);
    expect(created.data).toHaveProperty('max_participants', 3);
    const id = created.data?.id ?? '';
    expect((await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id } } })).data?.max_connections).toBe(3);
    // The newest version knows no such field: a strict body refuses it.
    await expectProblem(await tenant.api.POST('/v1/sessions', { body }), 400, 'validation_failed');
  });

  it('in the session events it lists, and the webhooks its organisation receives', async () => {
    const tenant = await pinnedToFirst();
    const { inbox } = await createReceivingEndpoint(tenant, ['session.created']);
    await tenant.api.POST('/v1/sessions', { body: { max_connections: 9 } });
    const listed = await old(tenant).GET('/v1/events', { params: { query: { type: 'session.created' } } });
    expect(listed.data?.data[0]?.data).toHaveProperty('max_participants', 9);
    const newest = await tenant.api.GET('/v1/events', { params: { query: { type: 'session.created' } } });
    expect(newest.data?.data[0]?.data).toHaveProperty('max_connections', 9);

    await dispatched(tenant);
    await runDueDeliveries(tenant);
    const [delivered] = await receivedBy(inbox);
    // Rendered in the organisation's default version when sent, and signed as sent.
    expect(delivered?.headers['switchyard-version']).toBe(FIRST);
    expect(JSON.parse(delivered?.body ?? '{}').data).toHaveProperty('max_participants', 9);
  });

  it('in an idempotent replay: the saved answer is rendered in the version of the request that replays it', async () => {
    const tenant = await createTenant();
    const headers = { 'Idempotency-Key': crypto.randomUUID() };
    const first = await old(tenant).POST('/v1/sessions', {
      params: { header: headers },
      body: { max_participants: 4 } as unknown as { max_connections: number },
    });
    expect(first.data).toHaveProperty('max_participants', 4);
    // The same request, from a client on the newest version (its body in the newest shape).
    const replayed = await tenant.api.POST('/v1/sessions', { params: { header: headers }, body: { max_connections: 4 } });
    expect(replayed.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(replayed.data?.id).toBe(first.data?.id);
    expect(replayed.data?.max_connections).toBe(4);
    expect(replayed.data).not.toHaveProperty('max_participants');
    const again = await old(tenant).POST('/v1/sessions', {
      params: { header: headers },
      body: { max_participants: 4 } as unknown as { max_connections: number },
    });
    expect(again.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(again.data).toHaveProperty('max_participants', 4);
  });
});

describe('the generated client', () => {
  async function sentVersion(options: Parameters<typeof createSwitchyardClient>[0]): Promise<string | null> {
    const events: SwitchyardDebugEvent[] = [];
    const client = createSwitchyardClient({
      baseUrl: BASE_URL,
      fetch: (request) => callWorker(request),
      retry: false,
      debug: (event) => events.push(event),
      ...options,
    });
    await client.GET('/health');
    const request = events.find((event) => event.type === 'request');
    return request?.type === 'request' ? request.headers.get(HEADER) : null;
  }

  it('sends the version its types describe, an older one it is pinned to, or none', async () => {
    expect(await sentVersion({})).toBe(NEWEST_API_VERSION);
    expect(await sentVersion({ apiVersion: FIRST })).toBe(FIRST);
    expect(await sentVersion({ apiVersion: null })).toBeNull();
  });
});
