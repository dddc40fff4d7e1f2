/**
 * Idempotency keys on the `atomic` routes, every route whose change is D1 only (a device update or
 * deletion closes sockets after its change, which cannot fail the request): the answer is
 * saved in the same D1 batch as the change. The `claim` routes are covered in
 * idempotency-claim.test.ts.
 */
import { describe, expect, it } from 'vitest';
import spec from '../../openapi/openapi.json';
import type { AuditAction } from '../../src/schemas/audit-events.ts';
import { SIGNING_KEY_CREATE_EXAMPLE } from '../../src/schemas/signing-keys.ts';
import { ageRecords, countRows, postWithKey, savedRecords, sendWithKey } from '../helpers/idempotency.ts';
import { expectProblem } from '../helpers/problem.ts';
import { openSession } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callTestApp } from '../helpers/test-app.ts';

interface AtomicCase {
  /** The audit action the change writes: counting its events counts the changes made. */
  action: AuditAction;
  /** The request's path, with whatever it acts on created first. */
  path(tenant: Tenant): Promise<string>;
  /** POST when absent. */
  method?: 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** The body, when it names something made for this request's target (at `path`). */
  bodyFor?(tenant: Tenant, path: string): Promise<unknown>;
  /** The success status; 201 when absent. */
  status?: number;
}

const ATOMIC: Record<string, AtomicCase> = {
  createApiKey: { action: 'api_key.created', path: async () => '/v1/api-keys', body: { name: 'atomic', scopes: ['devices:read'] } },
  rotateApiKey: {
    action: 'api_key.rotated',
    path: async (tenant) => `/v1/api-keys/${(await tenant.addKey()).id}/rotate`,
    body: { grace_period_seconds: 60 },
  },
  createDevice: { action: 'device.created', path: async () => '/v1/devices', body: { name: 'atomic', kind: 'phone' } },
  createSession: { action: 'session.created', path: async () => '/v1/sessions', body: {} },
  createConnectToken: {
    action: 'session.token_issued',
    path: async (tenant) => `/v1/sessions/${await openSession(tenant)}/tokens`,
    body: { participant: 'client:atomic' },
  },
  updateDevice: {
    action: 'device.updated',
    method: 'PATCH',
    path: async (tenant) => `/v1/devices/${await createDevice(tenant)}`,
    body: { name: 'renamed' },
    status: 200,
  },
  updateOrganization: {
    action: 'organization.updated',
    method: 'PATCH',
    path: async () => '/v1/organization',
    body: { name: 'renamed' },
    status: 200,
  },
  deleteDevice: {
    action: 'device.deleted',
    method: 'DELETE',
    path: async (tenant) => `/v1/devices/${await createDevice(tenant)}`,
    status: 204,
  },
  revokeApiKey: {
    action: 'api_key.revoked',
    method: 'DELETE',
    path: async (tenant) => `/v1/api-keys/${(await tenant.addKey()).id}`,
    status: 204,
  },
  createWebhookEndpoint: {
    action: 'webhook_endpoint.created',
    path: async () => '/v1/webhook-endpoints',
    body: { url: 'https://hooks.example.com/atomic' },
  },
  updateWebhookEndpoint: {
    action: 'webhook_endpoint.updated',
    method: 'PATCH',
    path: async (tenant) => `/v1/webhook-endpoints/${await createWebhookEndpoint(tenant)}`,
    body: { description: 'changed' },
    status: 200,
  },
  rotateWebhookEndpointSecret: {
    action: 'webhook_endpoint.secret_rotated',
    path: async (tenant) => `/v1/webhook-endpoints/${await createWebhookEndpoint(tenant)}/rotate-secret`,
    status: 200,
  },
  deleteWebhookEndpoint: {
    action: 'webhook_endpoint.deleted',
    method: 'DELETE',
    path: async (tenant) => `/v1/webhook-endpoints/${await createWebhookEndpoint(tenant)}`,
    status: 204,
  },
  resendWebhookEvent: {
    action: 'webhook_endpoint.event_resent',
    path: async (tenant) => `/v1/webhook-endpoints/${await createWebhookEndpoint(tenant)}/resend`,
    // The endpoint's own test event: an event that may be resent to it.
    async bodyFor(tenant, path) {
      const id = path.split('/')[3] ?? '';
      const { data } = await tenant.api.POST('/v1/webhook-endpoints/{id}/test', { params: { path: { id } } });
      return { event_id: data?.event_id };
    },
    status: 202,
  },
  recoverWebhookDeliveries: {
    action: 'webhook_endpoint.recovered',
    path: async (tenant) => `/v1/webhook-endpoints/${await createWebhookEndpoint(tenant)}/recover`,
    body: { since: '2026-01-01T00:00:00Z' },
    status: 202,
  },
  createOrganizationExport: {
    action: 'organization_export.created',
    path: async () => '/v1/organization/exports',
    status: 202,
  },
  testWebhookEndpoint: {
    action: 'webhook_endpoint.tested',
    path: async (tenant) => `/v1/webhook-endpoints/${await createWebhookEndpoint(tenant)}/test`,
    status: 202,
  },
  createSigningKey: { action: 'signing_key.created', path: async () => '/v1/signing-keys', body: SIGNING_KEY_CREATE_EXAMPLE },
  revokeSigningKey: {
    action: 'signing_key.revoked',
    method: 'DELETE',
    path: async (tenant) => {
      const { data } = await tenant.api.POST('/v1/signing-keys', { body: SIGNING_KEY_CREATE_EXAMPLE });
      return `/v1/signing-keys/${data?.id ?? ''}`;
    },
    status: 204,
  },
  updateRequestSigning: {
    action: 'request_signing.updated',
    method: 'PUT',
    path: async () => '/v1/organization/request-signing',
    body: { required: false },
    status: 200,
  },
};

async function createWebhookEndpoint(tenant: Tenant): Promise<string> {
  const { data } = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/atomic' } });
  return data?.id ?? '';
}

async function createDevice(tenant: Tenant): Promise<string> {
  const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'atomic', kind: 'phone' } });
  return data?.id ?? '';
}

/** The request's path and body, with whatever it acts on created first. */
async function prepare(tenant: Tenant, atomic: AtomicCase): Promise<{ path: string; body: unknown }> {
  const path = await atomic.path(tenant);
  return { path, body: atomic.bodyFor ? await atomic.bodyFor(tenant, path) : atomic.body };
}

function send(tenant: Tenant, atomic: AtomicCase, request: { path: string; body: unknown }, key: string): Promise<Response> {
  return sendWithKey(tenant, atomic.method ?? 'POST', request.path, key, request.body);
}

const CLAIM = ['endSession', 'publishSessionMessage'];

/** Atomic operations tested elsewhere, with why: these cases repeat requests with a key the operation revokes. */
const ATOMIC_TESTED_ELSEWHERE: Record<string, string> = {
  eraseOrganization:
    'it revokes the key that sends it; its concurrent and lost-reply cases are in test/workflows/organization-erasure.test.ts',
};

function auditEvents(tenant: Tenant, action: AuditAction): Promise<number> {
  return countRows('audit_events', tenant, `action = '${action}'`);
}

it('the spec marks exactly these operations atomic, and only the two with a Durable Object effect claim', () => {
  const operations = Object.values(spec.paths as Record<string, Record<string, { operationId: string; 'x-idempotent'?: string }>>).flatMap(
    (item) => Object.values(item),
  );
  const marked = (mode: string) =>
    operations
      .filter((operation) => operation['x-idempotent'] === mode)
      .map((operation) => operation.operationId)
      .sort();
  expect(marked('atomic')).toEqual([...Object.keys(ATOMIC), ...Object.keys(ATOMIC_TESTED_ELSEWHERE)].sort());
  expect(marked('claim')).toEqual([...CLAIM].sort());
});

describe.each(Object.entries(ATOMIC))('%s under one Idempotency-Key', (_, atomic) => {
  it('N concurrent requests make one change, and every answer is the first, byte for byte', async () => {
    const tenant = await createTenant();
    const request = await prepare(tenant, atomic);
    const status = atomic.status ?? 201;
    const responses = await Promise.all(Array.from({ length: 8 }, () => send(tenant, atomic, request, 'concurrent')));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(status));
    expect(responses.filter((response) => response.headers.get('Idempotent-Replayed') === null)).toHaveLength(1);
    expect(new Set(await Promise.all(responses.map((response) => response.text()))).size).toBe(1);
    expect(await auditEvents(tenant, atomic.action)).toBe(1);
    expect(await savedRecords(tenant)).toEqual({ concurrent: { state: 'completed', response_status: status } });
  });

  it('a retry replays; after 24 hours the key is forgotten and the request runs again', async () => {
    const tenant = await createTenant();
    const request = await prepare(tenant, atomic);
    const status = atomic.status ?? 201;
    const first = await send(tenant, atomic, request, 'retry');
    expect(first.status).toBe(status);
    const replay = await send(tenant, atomic, request, 'retry');
    expect(replay.status).toBe(status);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.text()).toBe(await first.text());
    expect(await auditEvents(tenant, atomic.action)).toBe(1);
    await ageRecords(tenant);
    const again = await send(tenant, atomic, request, 'retry');
    expect(again.headers.get('Idempotent-Replayed')).toBeNull();
    // A rotation, a deletion or a revocation runs again and is refused (already done); a creation or an update is made again.
    expect(await auditEvents(tenant, atomic.action)).toBe(again.status === status ? 2 : 1);
  });
});

describe('Idempotency-Key on POST /v1/devices', () => {
  const body = { name: 'atomic', kind: 'phone' };

  it('replays Location and ETag with the body', async () => {
    const tenant = await createTenant();
    const first = await postWithKey(tenant, '/v1/devices', 'replay', body);
    const second = await postWithKey(tenant, '/v1/devices', 'replay', body);
    expect(second.headers.get('Location')).toBe(first.headers.get('Location'));
    expect(second.headers.get('ETag')).toBe('"v1"');
  });

  it('the same key with a different body is a 422, and changes nothing', async () => {
    const tenant = await createTenant();
    expect((await postWithKey(tenant, '/v1/devices', 'reused', body)).status).toBe(201);
    await expectProblem(
      await postWithKey(tenant, '/v1/devices', 'reused', { name: 'different', kind: 'iot' }),
      422,
      'idempotency_key_reused',
    );
    expect(await countRows('devices', tenant, "name = 'different'")).toBe(0);
  });

  it("a refusal by the handler is saved and replayed, and carries none of the success's headers", async () => {
    const tenant = await createTenant();
    const taken = await tenant.api.POST('/v1/devices', { body: { name: 'first', kind: 'phone', external_id: 'dup' } });
    expect(taken.response.status).toBe(201);
    const duplicate = { name: 'second', kind: 'phone', external_id: 'dup' };
    const refused = await postWithKey(tenant, '/v1/devices', 'refused', duplicate);
    const refusedText = await refused.clone().text();
    await expectProblem(refused, 409, 'conflict');
    expect(refused.headers.get('Location')).toBeNull();
    expect(refused.headers.get('ETag')).toBeNull();
    // Even once the conflict is gone, the key answers what it answered first.
    await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: taken.data?.id ?? '' } } });
    const replay = await postWithKey(tenant, '/v1/devices', 'refused', duplicate);
    expect(replay.status).toBe(409);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.text()).toBe(refusedText);
    expect(await countRows('devices', tenant, "name = 'second'")).toBe(0);
  });

  it('a request that failed validation saves nothing: the same key then works', async () => {
    const tenant = await createTenant();
    await expectProblem(await postWithKey(tenant, '/v1/devices', 'after-400', { name: '', kind: 'phone' }), 400, 'validation_failed');
    expect(await savedRecords(tenant)).toEqual({});
    expect((await postWithKey(tenant, '/v1/devices', 'after-400', body)).status).toBe(201);
  });

  it('a key used on another route first is refused here as a different request', async () => {
    const tenant = await createTenant();
    expect((await postWithKey(tenant, '/v1/sessions', 'shared', {})).status).toBe(201);
    await expectProblem(await postWithKey(tenant, '/v1/devices', 'shared', body), 422, 'idempotency_key_reused');
    expect(await countRows('devices', tenant)).toBe(0);
  });
});

describe('a conditional change under an atomic key', () => {
  function touch(tenant: Tenant, key: string, deviceId: string): Promise<Response> {
    return callTestApp('/test/touch', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify({ device_id: deviceId }),
    });
  }

  it('saves its answer with the change when the change is made', async () => {
    const tenant = await createTenant();
    const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'touched', kind: 'iot' } });
    expect((await touch(tenant, 'made', data?.id ?? '')).status).toBe(200);
    expect(await savedRecords(tenant)).toEqual({ made: { state: 'completed', response_status: 200 } });
  });

  it('saves no success when the change is not made: the refusal is the answer, first and on replay', async () => {
    const tenant = await createTenant();
    await expectProblem(await touch(tenant, 'not-made', `dev_${'0'.repeat(22)}`), 404, 'not_found');
    expect(await savedRecords(tenant)).toEqual({ 'not-made': { state: 'completed', response_status: 404 } });
    const replay = await touch(tenant, 'not-made', `dev_${'0'.repeat(22)}`);
    expect(replay.status).toBe(404);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
  });
});

describe('Idempotency-Key and the route authorizer', () => {
  it('a refusal by an authorisation check is never saved: it is made again on every request', async () => {
    const tenant = await createTenant({ scopes: ['keys:admin'] });
    const body = { name: 'too much', scopes: ['audit:read'] };
    await expectProblem(await postWithKey(tenant, '/v1/api-keys', 'refused', body), 403, 'insufficient_scope');
    const again = await postWithKey(tenant, '/v1/api-keys', 'refused', body);
    await expectProblem(again, 403, 'insufficient_scope');
    expect(again.headers.get('Idempotent-Replayed')).toBeNull();
    expect(await savedRecords(tenant)).toEqual({});
  });
});
