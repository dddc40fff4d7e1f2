/**
 * Webhook endpoints through the generated client: create (the secret shown once, stored sealed),
 * read, list, update, rotate the secret with a 24-hour overlap, delete; the URL rule as the routes
 * apply it (the rule itself, spelling by spelling: test/lib/webhook-url.test.ts); the per-organisation
 * limit; and the audit trail. Who may act on which endpoint: test/access/authorization.test.ts.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { open, storageKeyring } from '../../../src/lib/encryption.ts';
import { webhookSecretSealingContext } from '../../../src/lib/webhook-secret.ts';
import { MAX_WEBHOOK_ENDPOINTS } from '../../../src/schemas/webhook-endpoints.ts';
import { countRows } from '../../helpers/idempotency.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { callWorker, PRODUCTION_ENV } from '../../helpers/worker.ts';

const RECEIVER_URL = 'https://hooks.example.com/switchyard';
const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{43}=$/;

async function createEndpoint(tenant: Tenant, body: Record<string, unknown> = {}) {
  const { data, response } = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: RECEIVER_URL, ...body } });
  expect(response.status, JSON.stringify(data)).toBe(201);
  if (!data) throw new Error('no endpoint');
  return data;
}

interface StoredSecrets {
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: string | null;
}

async function storedSecrets(id: string): Promise<StoredSecrets> {
  const row = await env.DB.prepare(
    'SELECT secret_sealed, previous_secret_sealed, previous_secret_expires_at FROM webhook_endpoints WHERE id = ?1',
  )
    .bind(id)
    .first<StoredSecrets>();
  if (!row) throw new Error(`no row for ${id}`);
  return row;
}

/** What a sealed secret opens to, bound to its endpoint as the routes seal it. */
async function opened(tenant: Tenant, id: string, sealed: string | null): Promise<string | undefined> {
  if (sealed === null) return undefined;
  const keyring = await storageKeyring(env.STORAGE_ENCRYPTION_SECRET, []);
  return open(keyring, sealed, webhookSecretSealingContext(tenant.orgId, id));
}

async function auditActions(tenant: Tenant, id: string): Promise<string[]> {
  const { data } = await tenant.api.GET('/v1/audit-events', { params: { query: { target_id: id, limit: 100 } } });
  return (data?.data ?? []).map((event) => event.action);
}

describe('POST /v1/webhook-endpoints', () => {
  it('creates an endpoint with defaults and shows its secret this once, stored only sealed', async () => {
    const tenant = await createTenant();
    const { data, response } = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: RECEIVER_URL } });
    expect(response.status).toBe(201);
    expect(data).toMatchObject({
      url: RECEIVER_URL,
      description: '',
      event_types: null,
      enabled: true,
      previous_secret_expires_at: null,
      version: 1,
    });
    expect(data?.id).toMatch(/^whe_[0-9A-Za-z]{22}$/);
    expect(data?.secret).toMatch(SECRET_PATTERN);
    expect(response.headers.get('Location')).toBe(`/v1/webhook-endpoints/${data?.id}`);
    expect(response.headers.get('ETag')).toBe('"v1"');
    const id = data?.id ?? '';

    const read = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id } } });
    expect(read.data).not.toHaveProperty('secret');
    const { secret, ...shown } = data ?? { secret: '' };
    expect(read.data).toEqual(shown);

    const stored = await storedSecrets(id);
    expect(stored.secret_sealed).toMatch(/^v1\./);
    expect(stored.secret_sealed).not.toContain(secret.slice(6, 22));
    expect(await opened(tenant, id, stored.secret_sealed)).toBe(secret);
    // Sealed for this endpoint: the same text does not open as another's.
    expect(await open(await storageKeyring(env.STORAGE_ENCRYPTION_SECRET, []), stored.secret_sealed, 'elsewhere')).toBeUndefined();
    expect(await auditActions(tenant, id)).toEqual(['webhook_endpoint.created']);
  });

  it('gives every endpoint a secret of its own', async () => {
    const tenant = await createTenant();
    const secrets = new Set([(await createEndpoint(tenant)).secret, (await createEndpoint(tenant)).secret]);
    expect(secrets.size).toBe(2);
  });

  it('stores the URL normalised, with every field given', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant, {
      url: 'HTTPS://Hooks.Example.COM:443/in/../hook?x=1',
      description: 'Orders',
      event_types: ['device.created', 'session.ended'],
      enabled: false,
    });
    expect(created).toMatchObject({
      url: 'https://hooks.example.com/hook?x=1',
      description: 'Orders',
      event_types: ['device.created', 'session.ended'],
      enabled: false,
    });
  });

  const refused: Array<[string, string, string]> = [
    ['a private address', 'https://10.0.0.7/hook', '10.0.0.7'],
    ['the metadata address in decimal', 'https://2852039166/latest', '169.254.169.254'],
    ['a private address inside an IPv4-mapped IPv6 one', 'https://[::ffff:10.1.2.3]/', 'private'],
    ['http to a public host', 'http://hooks.example.com/hook', 'https'],
    ['a URL with a password', 'https://user:pass@hooks.example.com/', 'password'],
  ];
  it.each(refused)('refuses %s with 400 naming url, and stores nothing', async (_, url, named) => {
    const tenant = await createTenant();
    const result = await tenant.api.POST('/v1/webhook-endpoints', { body: { url } });
    const problem = await expectProblem(result, 400, 'validation_failed');
    expect(problem.errors).toEqual([
      { location: 'body', pointer: '/url', detail: expect.stringContaining(named), code: 'url_not_allowed' },
    ]);
    expect(await countRows('webhook_endpoints', tenant)).toBe(0);
    expect(await countRows('audit_events', tenant)).toBe(0);
  });

  it('takes http to loopback outside production, and refuses it in production', async () => {
    const tenant = await createTenant();
    expect((await createEndpoint(tenant, { url: 'http://127.0.0.1:8790/hook' })).url).toBe('http://127.0.0.1:8790/hook');
    const production = await callWorker(
      '/v1/webhook-endpoints',
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ url: 'http://127.0.0.1:8790/hook' }),
      },
      PRODUCTION_ENV,
    );
    const problem = await expectProblem(production, 400, 'validation_failed');
    expect(problem.errors?.[0]?.pointer).toBe('/url');
    expect(await countRows('webhook_endpoints', tenant)).toBe(1);
  });

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['a repeated event type', { event_types: ['device.created', 'device.created'] }, '/event_types'],
    ['an unknown event type', { event_types: ['device.exploded'] }, '/event_types/0'],
    ['an empty event type list', { event_types: [] }, '/event_types'],
    ['a 501-character description', { description: 'd'.repeat(501) }, '/description'],
    ['a 2049-character URL', { url: `https://hooks.example.com/${'a'.repeat(2023)}` }, '/url'],
    ['a secret of its own', { secret: 'whsec_mine' }, '/secret'],
  ];
  it.each(invalid)('refuses %s with 400 naming the field', async (_, body, pointer) => {
    const tenant = await createTenant();
    const result = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: RECEIVER_URL, ...body } as { url: string } });
    const problem = await expectProblem(result, 400, 'validation_failed');
    expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
    expect(await countRows('webhook_endpoints', tenant)).toBe(0);
  });

  it(`allows ${MAX_WEBHOOK_ENDPOINTS} endpoints per organisation, then answers 409 limit_reached`, async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    for (let index = 0; index < MAX_WEBHOOK_ENDPOINTS; index += 1) await createEndpoint(tenant, { description: `#${index}` });
    const over = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: RECEIVER_URL } });
    const problem = await expectProblem(over, 409, 'limit_reached');
    expect(problem.detail).toContain(String(MAX_WEBHOOK_ENDPOINTS));
    expect(await countRows('webhook_endpoints', tenant)).toBe(MAX_WEBHOOK_ENDPOINTS);
    expect(await countRows('audit_events', tenant)).toBe(MAX_WEBHOOK_ENDPOINTS);
    // Another organisation's limit is its own; and deleting one makes room again.
    await createEndpoint(other);
    const first = (await tenant.api.GET('/v1/webhook-endpoints', { params: { query: { limit: 1 } } })).data?.data[0]?.id ?? '';
    await tenant.api.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id: first } } });
    await createEndpoint(tenant);
  });
});

describe('GET /v1/webhook-endpoints', () => {
  it('pages through the organisation’s endpoints in creation order, without secrets or other organisations’ endpoints', async () => {
    const tenant = await createTenant();
    const made = [await createEndpoint(tenant), await createEndpoint(tenant), await createEndpoint(tenant)];
    await createEndpoint(await createTenant());
    const first = await tenant.api.GET('/v1/webhook-endpoints', { params: { query: { limit: 2 } } });
    expect(first.data?.data.map((endpoint) => endpoint.id)).toEqual([made[0]?.id, made[1]?.id]);
    expect(first.data?.next_cursor).toEqual(expect.any(String));
    const second = await tenant.api.GET('/v1/webhook-endpoints', {
      params: { query: { limit: 2, cursor: first.data?.next_cursor ?? '' } },
    });
    expect(second.data?.data.map((endpoint) => endpoint.id)).toEqual([made[2]?.id]);
    expect(second.data?.next_cursor).toBeNull();
    for (const endpoint of [...(first.data?.data ?? []), ...(second.data?.data ?? [])]) expect(endpoint).not.toHaveProperty('secret');
  });
});

describe('PATCH /v1/webhook-endpoints/{id}', () => {
  it('changes the given fields, counts the version and keeps the secret', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant, { event_types: ['device.created'] });
    const before = await storedSecrets(created.id);
    const { data, response } = await tenant.api.PATCH('/v1/webhook-endpoints/{id}', {
      params: { path: { id: created.id } },
      body: { url: 'https://other.example.com/in', description: 'moved', event_types: null, enabled: false },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('ETag')).toBe('"v2"');
    expect(data).toMatchObject({
      url: 'https://other.example.com/in',
      description: 'moved',
      event_types: null,
      enabled: false,
      version: 2,
    });
    expect(data).not.toHaveProperty('secret');
    expect((await storedSecrets(created.id)).secret_sealed).toBe(before.secret_sealed);
    expect(await auditActions(tenant, created.id)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.updated']);
  });

  it('holds a new URL to the same rule, and changes nothing when it fails', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    const result = await tenant.api.PATCH('/v1/webhook-endpoints/{id}', {
      params: { path: { id: created.id } },
      body: { url: 'https://192.168.1.1/', description: 'never stored' },
    });
    const problem = await expectProblem(result, 400, 'validation_failed');
    expect(problem.errors?.[0]?.pointer).toBe('/url');
    const read = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: created.id } } });
    expect(read.data).toMatchObject({ url: RECEIVER_URL, description: '', version: 1 });
  });

  it('with a stale If-Match answers 412 and changes nothing; with the current one, changes', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    const stale = await tenant.api.PATCH('/v1/webhook-endpoints/{id}', {
      params: { path: { id: created.id }, header: { 'If-Match': '"v7"' } },
      body: { enabled: false },
    });
    await expectProblem(stale, 412, 'precondition_failed');
    const current = await tenant.api.PATCH('/v1/webhook-endpoints/{id}', {
      params: { path: { id: created.id }, header: { 'If-Match': '"v1"' } },
      body: { enabled: false },
    });
    expect(current.data).toMatchObject({ enabled: false, version: 2 });
  });

  it('refuses an empty change, a secret and a read-only field', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    for (const body of [{}, { secret: 'whsec_x' }, { version: 9 }]) {
      const result = await tenant.api.PATCH('/v1/webhook-endpoints/{id}', {
        params: { path: { id: created.id } },
        body: body as { enabled: boolean },
      });
      await expectProblem(result, 400, 'validation_failed');
    }
    expect((await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: created.id } } })).data?.version).toBe(1);
  });
});

describe('POST /v1/webhook-endpoints/{id}/rotate-secret', () => {
  it('shows a new secret once and keeps the one it replaced for 24 hours, both sealed', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    const started = Date.now();
    const { data, response } = await tenant.api.POST('/v1/webhook-endpoints/{id}/rotate-secret', { params: { path: { id: created.id } } });
    expect(response.status).toBe(200);
    expect(response.headers.get('ETag')).toBe('"v2"');
    expect(data?.secret).toMatch(SECRET_PATTERN);
    expect(data?.secret).not.toBe(created.secret);
    const expiresAt = Date.parse(data?.previous_secret_expires_at ?? '');
    expect(expiresAt - started).toBeGreaterThanOrEqual(24 * 3600_000 - 1000);
    expect(expiresAt - started).toBeLessThanOrEqual(24 * 3600_000 + 5000);

    const stored = await storedSecrets(created.id);
    expect(await opened(tenant, created.id, stored.secret_sealed)).toBe(data?.secret);
    expect(await opened(tenant, created.id, stored.previous_secret_sealed)).toBe(created.secret);
    expect(stored.previous_secret_expires_at).toBe(data?.previous_secret_expires_at);
    const read = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: created.id } } });
    expect(read.data?.previous_secret_expires_at).toBe(data?.previous_secret_expires_at);
    expect(await auditActions(tenant, created.id)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.secret_rotated']);
  });

  it('rotating again keeps only the secret current until then, not the first', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    const rotate = () => tenant.api.POST('/v1/webhook-endpoints/{id}/rotate-secret', { params: { path: { id: created.id } } });
    const first = (await rotate()).data;
    const second = (await rotate()).data;
    const stored = await storedSecrets(created.id);
    expect(await opened(tenant, created.id, stored.secret_sealed)).toBe(second?.secret);
    expect(await opened(tenant, created.id, stored.previous_secret_sealed)).toBe(first?.secret);
    expect(second?.version).toBe(3);
  });

  it('with a stale If-Match answers 412 and keeps the secret', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    const before = await storedSecrets(created.id);
    const result = await tenant.api.POST('/v1/webhook-endpoints/{id}/rotate-secret', {
      params: { path: { id: created.id }, header: { 'If-Match': '"v2"' } },
    });
    await expectProblem(result, 412, 'precondition_failed');
    expect(await storedSecrets(created.id)).toEqual(before);
  });
});

describe('DELETE /v1/webhook-endpoints/{id}', () => {
  it('removes the endpoint and its secrets; a second delete and a read are 404', async () => {
    const tenant = await createTenant();
    const created = await createEndpoint(tenant);
    const deleted = await tenant.api.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id: created.id } } });
    expect(deleted.response.status).toBe(204);
    expect(await countRows('webhook_endpoints', tenant)).toBe(0);
    await expectProblem(await tenant.api.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id: created.id } } }), 404, 'not_found');
    await expectProblem(await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: created.id } } }), 404, 'not_found');
    expect(await auditActions(tenant, created.id)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.deleted']);
  });
});
