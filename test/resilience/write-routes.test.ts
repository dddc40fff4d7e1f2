/**
 * Every write operation in the spec under injected D1 faults (issue 12 §6): a transient failure
 * before the write reaches D1, a write that never answers, and a write whose reply is lost after it
 * committed (and, on a subset, a hung write that lands late, after the client repeated the request).
 * Each time the client gets a 503 / 504 problem with Retry-After, never a 500, unless the change
 * committed and only its reply was lost: then the answer saved with it is read back and given at
 * once (when that read fails too, it is a 503 like the others). The same request repeated with the
 * same Idempotency-Key through a healthy D1 then succeeds, once: the change is made the first time
 * it reaches D1, and after a lost reply the repeat answers what committed. Afterwards the change exists once (read through the API and in D1), and the audit trail
 * holds exactly one event for it.
 *
 * The claim routes (publish a message, end a session) make a call to the session's room as part of
 * their effect; they are also shown with the room failing and with the claim's own writes failing.
 * A new write operation is covered by adding its fixture to WRITE_FIXTURES; one without fails.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import spec from '../../openapi/openapi.json';
import { createApp } from '../../src/app.ts';
import { verifyConnectToken } from '../../src/lib/session-token.ts';
import type { AuditAction } from '../../src/schemas/audit-events.ts';
import { EMITTED_EVENT_TYPES } from '../../src/schemas/events.ts';
import type { SessionMessage } from '../../src/schemas/realtime.ts';
import { SIGNING_KEY_CREATE_EXAMPLE } from '../../src/schemas/signing-keys.ts';
import {
  D1_FAILURES,
  type D1Call,
  type FaultyD1,
  faultyD1,
  faultyNamespace,
  lateD1,
  objectError,
  replyLosingNamespace,
  touching,
} from '../helpers/faults.ts';
import { countRows } from '../helpers/idempotency.ts';
import { expectProblem } from '../helpers/problem.ts';
import { connect, messagesOnly, mintToken, openSession } from '../helpers/realtime.ts';
import { checkResponse, routeIndex } from '../helpers/response-contract.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { dispatched, runDueDeliveries } from '../helpers/webhooks.ts';
import { apiClient, callWorker } from '../helpers/worker.ts';

/** A D1 write's deadline (db/guarded-d1.ts): a write that hangs is given up on after it. */
const WRITE_DEADLINE_MS = 2_000;
/** A room call's deadline (ROOM_CALL_TIMEOUT_MS in routes/sessions/room.ts). */
const ROOM_DEADLINE_MS = 2_000;

type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface WriteOperation {
  operationId: string;
  method: string;
  path: string;
  idempotent: unknown;
  responses: Record<string, { headers?: Record<string, { required?: boolean }> }>;
}

const WRITE_METHODS = new Set(['post', 'put', 'patch', 'delete']);

/** Every POST, PUT, PATCH and DELETE operation in the committed spec. */
const writeOperations: WriteOperation[] = Object.entries(spec.paths as Record<string, Record<string, Record<string, unknown>>>).flatMap(
  ([path, item]) =>
    Object.entries(item)
      .filter(([method]) => WRITE_METHODS.has(method))
      .map(([method, operation]) => ({
        operationId: String(operation.operationId),
        method: method.toUpperCase(),
        path,
        idempotent: operation['x-idempotent'],
        responses: operation.responses as WriteOperation['responses'],
      })),
);

/** One request of an operation, ready to be sent, with what shows its change made once or not at all. */
interface Prepared {
  /** The path as sent, ids filled in. */
  path: string;
  body?: unknown;
  /** The session the request is about, for the session operations. */
  sessionId?: string;
  /** The id the change's audit event names, once the successful answer's body is known. */
  auditTarget: (answer: unknown) => string;
  /** Asserts, through the API and in D1, that the change exists exactly once; `answer` is the successful body. */
  madeOnce: (answer: unknown) => Promise<void>;
  /** Asserts that nothing was changed. */
  notMade: () => Promise<void>;
}

interface WriteFixture {
  method: Method;
  /** The path as the spec names it. */
  path: string;
  /** How the operation holds its Idempotency-Key, as the spec's `x-idempotent` says. */
  idempotent: 'atomic' | 'claim';
  /** The status its success documents. */
  status: number;
  /** The D1 write the faults are injected into: the change's own batch, or for publish the claim that precedes the broadcast. */
  write: (call: D1Call) => boolean;
  /** The audit event recorded with the change; none for an operation that is not audited. */
  action?: AuditAction;
  /**
   * What the same request answers after the write's reply was lost: `replayed`, the answer that
   * committed with the change (atomic); `answered-again`, the claim was released and the request runs
   * again, finding the change made (end session); `key-held`, the claim itself committed, so the key
   * stays held until its lock lapses (publish).
   */
  afterLostReply: 'replayed' | 'answered-again' | 'key-held';
  prepare: (tenant: Tenant) => Promise<Prepared>;
}

const batchTouching =
  (text: string) =>
  (call: D1Call): boolean =>
    call.method === 'batch' && touching(text)(call);

const claimOfKey = (call: D1Call): boolean => call.method === 'run' && touching('INSERT INTO idempotency_keys')(call);
const completionOfKey = (call: D1Call): boolean => call.method === 'run' && touching("SET state = 'completed'")(call);

function field(answer: unknown, name: string): string {
  const value = (answer as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string') throw new Error(`the answer has no ${name}`);
  return value;
}

async function revokedAt(id: string): Promise<string | null> {
  return (
    (await env.DB.prepare('SELECT revoked_at FROM api_keys WHERE id = ?1').bind(id).first<{ revoked_at: string | null }>())?.revoked_at ??
    null
  );
}

async function rotatedTo(id: string): Promise<string | null> {
  return (
    (await env.DB.prepare('SELECT rotated_to FROM api_keys WHERE id = ?1').bind(id).first<{ rotated_to: string | null }>())?.rotated_to ??
    null
  );
}

async function newDevice(tenant: Tenant, name: string): Promise<string> {
  const { data } = await tenant.api.POST('/v1/devices', { body: { name, kind: 'iot' } });
  if (!data) throw new Error('could not create a device');
  return data.id;
}

async function newWebhookEndpoint(tenant: Tenant): Promise<string> {
  const { data } = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/faults' } });
  if (!data) throw new Error('could not create a webhook endpoint');
  return data.id;
}

/** A device event delivered to the endpoint once, by the real consumer; its id. */
async function deliveredEvent(tenant: Tenant, endpointId: string): Promise<string> {
  await newDevice(tenant, 'delivered once');
  await dispatched(tenant);
  await runDueDeliveries(tenant);
  expect(await deliveryRows(tenant, endpointId)).toMatchObject([{ status: 'succeeded', attempts: 1 }]);
  const { data } = await tenant.api.GET('/v1/events', { params: { query: { type: 'device.created' } } });
  return data?.data[0]?.id ?? '';
}

function deliveryRows(tenant: Tenant, endpointId: string) {
  return env.DB.prepare('SELECT id, status, attempts, schedule_from FROM webhook_deliveries WHERE org_id = ?1 AND endpoint_id = ?2')
    .bind(tenant.orgId, endpointId)
    .all()
    .then((result) => result.results);
}

/**
 * The messages (not presence) whose payload is `payload` that the session's room has stored, read from
 * the room's own storage (its ring of the last 1,000, which reconnecting clients are replayed from).
 */
async function messagesWith(sessionId: string, payload: unknown): Promise<SessionMessage[]> {
  const stub = env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
  const rows = await runInDurableObject(stub, (_room, state) =>
    state.storage.sql
      .exec<{ seq: number; type: string; sender: string; payload: string; ts: string }>(
        'SELECT seq, type, sender, payload, ts FROM messages ORDER BY seq',
      )
      .toArray(),
  );
  return rows
    .filter((row) => row.type === 'message' && row.payload === JSON.stringify(payload))
    .map((row) => ({ type: 'message', seq: row.seq, sender: row.sender, payload: JSON.parse(row.payload), ts: row.ts }));
}

const PUBLISHED = { text: 'published under faults' };

const WRITE_FIXTURES: Record<string, WriteFixture> = {
  createApiKey: {
    method: 'POST',
    path: '/v1/api-keys',
    idempotent: 'atomic',
    status: 201,
    action: 'api_key.created',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO api_keys'),
    async prepare(tenant) {
      const named = "name = 'made under faults'";
      return {
        path: '/v1/api-keys',
        body: { name: 'made under faults', scopes: ['devices:read'] },
        auditTarget: (answer) => field(answer, 'id'),
        async madeOnce(answer) {
          expect(await countRows('api_keys', tenant, named)).toBe(1);
          // As answered, but for `last_used_at`, which the check below stamps.
          const { secret: _secret, last_used_at: _lastUsedAt, ...shown } = answer as Record<string, unknown>;
          const read = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: field(answer, 'id') } } });
          expect(read.data).toMatchObject(shown);
          // The secret answered is the key that was stored: it authenticates.
          expect((await apiClient({ apiKey: field(answer, 'secret') }).GET('/v1/devices')).response.status).toBe(200);
        },
        async notMade() {
          expect(await countRows('api_keys', tenant, named)).toBe(0);
        },
      };
    },
  },
  rotateApiKey: {
    method: 'POST',
    path: '/v1/api-keys/{id}/rotate',
    idempotent: 'atomic',
    status: 201,
    action: 'api_key.rotated',
    afterLostReply: 'replayed',
    write: batchTouching('SET rotated_to'),
    async prepare(tenant) {
      const old = await tenant.addKey({ name: 'rotated under faults' });
      const named = "name = 'rotated under faults'";
      return {
        path: `/v1/api-keys/${old.id}/rotate`,
        body: { grace_period_seconds: 60 },
        auditTarget: () => old.id,
        async madeOnce(answer) {
          // The old key and one replacement: the one answered, which the old key names.
          expect(await countRows('api_keys', tenant, named)).toBe(2);
          expect(await rotatedTo(old.id)).toBe(field(answer, 'id'));
          expect((await apiClient({ apiKey: field(answer, 'secret') }).GET('/v1/devices')).response.status).toBe(200);
        },
        async notMade() {
          expect(await countRows('api_keys', tenant, named)).toBe(1);
          expect(await rotatedTo(old.id)).toBeNull();
        },
      };
    },
  },
  revokeApiKey: {
    method: 'DELETE',
    path: '/v1/api-keys/{id}',
    idempotent: 'atomic',
    status: 204,
    action: 'api_key.revoked',
    afterLostReply: 'replayed',
    write: batchTouching('SET revoked_at'),
    async prepare(tenant) {
      const target = await tenant.addKey({ name: 'revoked under faults' });
      const read = () => tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: target.id } } });
      return {
        path: `/v1/api-keys/${target.id}`,
        auditTarget: () => target.id,
        async madeOnce() {
          await expectProblem(await read(), 404, 'not_found');
          expect(await revokedAt(target.id)).not.toBeNull();
          expect(await countRows('api_keys', tenant, 'revoked_at IS NOT NULL')).toBe(1);
        },
        async notMade() {
          expect((await read()).response.status).toBe(200);
          expect(await revokedAt(target.id)).toBeNull();
        },
      };
    },
  },
  createDevice: {
    method: 'POST',
    path: '/v1/devices',
    idempotent: 'atomic',
    status: 201,
    action: 'device.created',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO devices'),
    async prepare(tenant) {
      const named = "name = 'made under faults'";
      return {
        path: '/v1/devices',
        body: { name: 'made under faults', kind: 'iot' },
        auditTarget: (answer) => field(answer, 'id'),
        async madeOnce(answer) {
          expect(await countRows('devices', tenant, named)).toBe(1);
          const read = await tenant.api.GET('/v1/devices/{id}', { params: { path: { id: field(answer, 'id') } } });
          expect(read.data).toEqual(answer);
        },
        async notMade() {
          expect(await countRows('devices', tenant, named)).toBe(0);
        },
      };
    },
  },
  updateDevice: {
    method: 'PATCH',
    path: '/v1/devices/{id}',
    idempotent: 'atomic',
    status: 200,
    action: 'device.updated',
    afterLostReply: 'replayed',
    write: batchTouching('UPDATE devices SET name'),
    async prepare(tenant) {
      const id = await newDevice(tenant, 'before the faults');
      const read = () => tenant.api.GET('/v1/devices/{id}', { params: { path: { id } } });
      return {
        path: `/v1/devices/${id}`,
        body: { name: 'renamed under faults' },
        auditTarget: () => id,
        async madeOnce(answer) {
          const { data } = await read();
          // Changed once: one version on from the device as created.
          expect(data).toMatchObject({ name: 'renamed under faults', version: 2 });
          expect(data).toEqual(answer);
        },
        async notMade() {
          expect((await read()).data).toMatchObject({ name: 'before the faults', version: 1 });
        },
      };
    },
  },
  updateOrganization: {
    method: 'PATCH',
    path: '/v1/organization',
    idempotent: 'atomic',
    status: 200,
    action: 'organization.updated',
    afterLostReply: 'replayed',
    write: batchTouching('UPDATE organizations SET name'),
    async prepare(tenant) {
      const read = () => tenant.api.GET('/v1/organization');
      return {
        path: '/v1/organization',
        body: { name: 'renamed under faults' },
        auditTarget: () => tenant.orgId,
        async madeOnce(answer) {
          const { data } = await read();
          expect(data).toMatchObject({ name: 'renamed under faults', version: 2 });
          expect(data).toEqual(answer);
        },
        async notMade() {
          expect((await read()).data).toMatchObject({ name: 'Test org', version: 1 });
        },
      };
    },
  },
  deleteDevice: {
    method: 'DELETE',
    path: '/v1/devices/{id}',
    idempotent: 'atomic',
    status: 204,
    action: 'device.deleted',
    afterLostReply: 'replayed',
    write: batchTouching('DELETE FROM devices'),
    async prepare(tenant) {
      const id = await newDevice(tenant, 'deleted under faults');
      const read = () => tenant.api.GET('/v1/devices/{id}', { params: { path: { id } } });
      return {
        path: `/v1/devices/${id}`,
        auditTarget: () => id,
        async madeOnce() {
          await expectProblem(await read(), 404, 'not_found');
          expect(await countRows('devices', tenant)).toBe(0);
        },
        async notMade() {
          expect((await read()).response.status).toBe(200);
        },
      };
    },
  },
  createOrganizationExport: {
    method: 'POST',
    path: '/v1/organization/exports',
    idempotent: 'atomic',
    status: 202,
    action: 'organization_export.created',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO organization_exports'),
    async prepare(tenant) {
      return {
        path: '/v1/organization/exports',
        auditTarget: (answer) => field(answer, 'id'),
        async madeOnce(answer) {
          expect(await countRows('organization_exports', tenant)).toBe(1);
          // Its job may have moved it on since: the same export, whatever its status now.
          const read = await tenant.api.GET('/v1/organization/exports/{id}', { params: { path: { id: field(answer, 'id') } } });
          expect(read.data?.created_at).toBe(field(answer, 'created_at'));
        },
        async notMade() {
          expect(await countRows('organization_exports', tenant)).toBe(0);
        },
      };
    },
  },
  createWebhookEndpoint: {
    method: 'POST',
    path: '/v1/webhook-endpoints',
    idempotent: 'atomic',
    status: 201,
    action: 'webhook_endpoint.created',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO webhook_endpoints'),
    async prepare(tenant) {
      const described = "description = 'made under faults'";
      return {
        path: '/v1/webhook-endpoints',
        body: { url: 'https://hooks.example.com/faults', description: 'made under faults' },
        auditTarget: (answer) => field(answer, 'id'),
        async madeOnce(answer) {
          expect(await countRows('webhook_endpoints', tenant, described)).toBe(1);
          const { secret: _secret, ...shown } = answer as Record<string, unknown>;
          const read = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: field(answer, 'id') } } });
          expect(read.data).toEqual(shown);
        },
        async notMade() {
          expect(await countRows('webhook_endpoints', tenant, described)).toBe(0);
        },
      };
    },
  },
  updateWebhookEndpoint: {
    method: 'PATCH',
    path: '/v1/webhook-endpoints/{id}',
    idempotent: 'atomic',
    status: 200,
    action: 'webhook_endpoint.updated',
    afterLostReply: 'replayed',
    write: batchTouching('UPDATE webhook_endpoints'),
    async prepare(tenant) {
      const id = await newWebhookEndpoint(tenant);
      const read = () => tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id } } });
      return {
        path: `/v1/webhook-endpoints/${id}`,
        body: { description: 'changed under faults' },
        auditTarget: () => id,
        async madeOnce(answer) {
          const { data } = await read();
          expect(data).toMatchObject({ description: 'changed under faults', version: 2 });
          expect(data).toEqual(answer);
        },
        async notMade() {
          expect((await read()).data).toMatchObject({ description: '', version: 1 });
        },
      };
    },
  },
  rotateWebhookEndpointSecret: {
    method: 'POST',
    path: '/v1/webhook-endpoints/{id}/rotate-secret',
    idempotent: 'atomic',
    status: 200,
    action: 'webhook_endpoint.secret_rotated',
    afterLostReply: 'replayed',
    write: batchTouching('UPDATE webhook_endpoints'),
    async prepare(tenant) {
      const id = await newWebhookEndpoint(tenant);
      const read = () => tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id } } });
      return {
        path: `/v1/webhook-endpoints/${id}/rotate-secret`,
        auditTarget: () => id,
        async madeOnce(answer) {
          // Rotated once: one version on, the previous secret kept until the time answered.
          const { data } = await read();
          expect(data).toMatchObject({ version: 2, previous_secret_expires_at: field(answer, 'previous_secret_expires_at') });
        },
        async notMade() {
          expect((await read()).data).toMatchObject({ version: 1, previous_secret_expires_at: null });
        },
      };
    },
  },
  deleteWebhookEndpoint: {
    method: 'DELETE',
    path: '/v1/webhook-endpoints/{id}',
    idempotent: 'atomic',
    status: 204,
    action: 'webhook_endpoint.deleted',
    afterLostReply: 'replayed',
    write: batchTouching('DELETE FROM webhook_endpoints'),
    async prepare(tenant) {
      const id = await newWebhookEndpoint(tenant);
      const read = () => tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id } } });
      return {
        path: `/v1/webhook-endpoints/${id}`,
        auditTarget: () => id,
        async madeOnce() {
          await expectProblem(await read(), 404, 'not_found');
          expect(await countRows('webhook_endpoints', tenant)).toBe(0);
        },
        async notMade() {
          expect((await read()).response.status).toBe(200);
        },
      };
    },
  },
  createSigningKey: {
    method: 'POST',
    path: '/v1/signing-keys',
    idempotent: 'atomic',
    status: 201,
    action: 'signing_key.created',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO signing_keys'),
    async prepare(tenant) {
      return {
        path: '/v1/signing-keys',
        body: SIGNING_KEY_CREATE_EXAMPLE,
        auditTarget: (answer) => field(answer, 'id'),
        async madeOnce(answer) {
          expect(await countRows('signing_keys', tenant)).toBe(1);
          expect((await tenant.api.GET('/v1/signing-keys/{id}', { params: { path: { id: field(answer, 'id') } } })).data).toEqual(answer);
        },
        async notMade() {
          expect(await countRows('signing_keys', tenant)).toBe(0);
        },
      };
    },
  },
  revokeSigningKey: {
    method: 'DELETE',
    path: '/v1/signing-keys/{id}',
    idempotent: 'atomic',
    status: 204,
    action: 'signing_key.revoked',
    afterLostReply: 'replayed',
    write: batchTouching('UPDATE signing_keys SET revoked_at'),
    async prepare(tenant) {
      const id = (await tenant.api.POST('/v1/signing-keys', { body: SIGNING_KEY_CREATE_EXAMPLE })).data?.id ?? '';
      const read = () => tenant.api.GET('/v1/signing-keys/{id}', { params: { path: { id } } });
      return {
        path: `/v1/signing-keys/${id}`,
        auditTarget: () => id,
        async madeOnce() {
          await expectProblem(await read(), 404, 'not_found');
          expect(await countRows('signing_keys', tenant, 'revoked_at IS NOT NULL')).toBe(1);
        },
        async notMade() {
          expect((await read()).response.status).toBe(200);
        },
      };
    },
  },
  updateRequestSigning: {
    method: 'PUT',
    path: '/v1/organization/request-signing',
    idempotent: 'atomic',
    status: 200,
    action: 'request_signing.updated',
    afterLostReply: 'replayed',
    write: batchTouching('SET require_signed_requests'),
    async prepare(tenant) {
      // Off, which needs no signature: the change shows as its audit row and event.
      const set = "action = 'request_signing.updated'";
      return {
        path: '/v1/organization/request-signing',
        body: { required: false },
        auditTarget: () => tenant.orgId,
        async madeOnce(answer) {
          expect(answer).toEqual({ required: false });
          expect(await countRows('audit_events', tenant, set)).toBe(1);
        },
        async notMade() {
          expect(await countRows('audit_events', tenant, set)).toBe(0);
        },
      };
    },
  },
  resendWebhookEvent: {
    method: 'POST',
    path: '/v1/webhook-endpoints/{id}/resend',
    idempotent: 'atomic',
    status: 202,
    action: 'webhook_endpoint.event_resent',
    afterLostReply: 'replayed',
    write: batchTouching('ON CONFLICT (endpoint_id, event_id) DO UPDATE'),
    async prepare(tenant) {
      const id = await newWebhookEndpoint(tenant);
      // An event delivered once already: a resend reopens its delivery.
      const eventId = await deliveredEvent(tenant, id);
      return {
        path: `/v1/webhook-endpoints/${id}/resend`,
        body: { event_id: eventId },
        auditTarget: () => id,
        async madeOnce(answer) {
          expect(await deliveryRows(tenant, id)).toEqual([{ id: field(answer, 'id'), status: 'pending', attempts: 1, schedule_from: 1 }]);
        },
        async notMade() {
          expect(await deliveryRows(tenant, id)).toMatchObject([{ status: 'succeeded', attempts: 1, schedule_from: 0 }]);
        },
      };
    },
  },
  recoverWebhookDeliveries: {
    method: 'POST',
    path: '/v1/webhook-endpoints/{id}/recover',
    idempotent: 'atomic',
    status: 202,
    action: 'webhook_endpoint.recovered',
    afterLostReply: 'replayed',
    write: batchTouching("SET status = 'pending', schedule_from = attempts"),
    async prepare(tenant) {
      const id = await newWebhookEndpoint(tenant);
      await deliveredEvent(tenant, id);
      // As if every attempt had failed.
      await env.DB.prepare("UPDATE webhook_deliveries SET status = 'failed' WHERE org_id = ?1").bind(tenant.orgId).run();
      return {
        path: `/v1/webhook-endpoints/${id}/recover`,
        body: { since: new Date(Date.now() - 3_600_000).toISOString() },
        auditTarget: () => id,
        async madeOnce(answer) {
          expect(answer).toEqual({ recovered: 1, has_more: false });
          expect(await deliveryRows(tenant, id)).toMatchObject([{ status: 'pending', schedule_from: 1 }]);
        },
        async notMade() {
          expect(await deliveryRows(tenant, id)).toMatchObject([{ status: 'failed', schedule_from: 0 }]);
        },
      };
    },
  },
  testWebhookEndpoint: {
    method: 'POST',
    path: '/v1/webhook-endpoints/{id}/test',
    idempotent: 'atomic',
    status: 202,
    action: 'webhook_endpoint.tested',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO webhook_deliveries'),
    async prepare(tenant) {
      const id = await newWebhookEndpoint(tenant);
      const testEvents = "type = 'webhook.test'";
      return {
        path: `/v1/webhook-endpoints/${id}/test`,
        auditTarget: () => id,
        async madeOnce(answer) {
          expect(await countRows('events', tenant, testEvents)).toBe(1);
          expect(await deliveryRows(tenant, id)).toEqual([{ id: field(answer, 'id'), status: 'pending', attempts: 0, schedule_from: 0 }]);
        },
        async notMade() {
          expect(await countRows('events', tenant, testEvents)).toBe(0);
          expect(await deliveryRows(tenant, id)).toEqual([]);
        },
      };
    },
  },
  createSession: {
    method: 'POST',
    path: '/v1/sessions',
    idempotent: 'atomic',
    status: 201,
    action: 'session.created',
    afterLostReply: 'replayed',
    write: batchTouching('INSERT INTO sessions'),
    async prepare(tenant) {
      return {
        path: '/v1/sessions',
        body: { max_connections: 7 },
        auditTarget: (answer) => field(answer, 'id'),
        async madeOnce(answer) {
          expect(await countRows('sessions', tenant)).toBe(1);
          const read = await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: field(answer, 'id') } } });
          expect(read.data).toEqual(answer);
        },
        async notMade() {
          expect(await countRows('sessions', tenant)).toBe(0);
        },
      };
    },
  },
  createConnectToken: {
    method: 'POST',
    path: '/v1/sessions/{id}/tokens',
    idempotent: 'atomic',
    status: 201,
    action: 'session.token_issued',
    afterLostReply: 'replayed',
    // Its batch is its audit event (and under an atomic key, its answer).
    write: batchTouching('INSERT INTO audit_events'),
    async prepare(tenant) {
      const sessionId = await openSession(tenant);
      return {
        path: `/v1/sessions/${sessionId}/tokens`,
        body: { participant: 'client:under-faults' },
        auditTarget: () => sessionId,
        async madeOnce(answer) {
          expect(answer).toMatchObject({ session_id: sessionId, participant: 'client:under-faults' });
          // The token answered is one the Worker signed, for this session, participant and organisation.
          const claims = await verifyConnectToken(env.SESSION_JWT_SECRET ?? '', field(answer, 'token'), sessionId);
          expect(claims).toMatchObject({ sid: sessionId, sub: 'client:under-faults', org: tenant.orgId });
        },
        async notMade() {
          expect(await countRows('audit_events', tenant, "action = 'session.token_issued'")).toBe(0);
        },
      };
    },
  },
  endSession: {
    method: 'POST',
    path: '/v1/sessions/{id}/end',
    idempotent: 'claim',
    status: 200,
    action: 'session.ended',
    afterLostReply: 'answered-again',
    write: batchTouching('UPDATE sessions SET ended_at'),
    async prepare(tenant) {
      const sessionId = await openSession(tenant);
      const read = () => tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: sessionId } } });
      return {
        path: `/v1/sessions/${sessionId}/end`,
        sessionId,
        auditTarget: () => sessionId,
        async madeOnce(answer) {
          const { data } = await read();
          expect(data).toMatchObject({ status: 'ended', end_reason: 'ended' });
          expect(data).toEqual(answer);
        },
        async notMade() {
          expect((await read()).data).toMatchObject({ status: 'active', ended_at: null });
        },
      };
    },
  },
  publishSessionMessage: {
    method: 'POST',
    path: '/v1/sessions/{id}/messages',
    idempotent: 'claim',
    status: 202,
    // Messages are not audit events (AUDIT_ACTIONS has none): the trail must stay as it was.
    afterLostReply: 'key-held',
    // Its D1 writes are the claim before the broadcast and the completion after; the claim is the one
    // the broadcast depends on. The completion, and the room itself, are faulted further down.
    write: claimOfKey,
    async prepare(tenant) {
      const sessionId = await openSession(tenant);
      return {
        path: `/v1/sessions/${sessionId}/messages`,
        sessionId,
        body: { payload: PUBLISHED },
        auditTarget: () => sessionId,
        async madeOnce(answer) {
          expect(await messagesWith(sessionId, PUBLISHED)).toEqual([answer]);
        },
        async notMade() {
          expect(await messagesWith(sessionId, PUBLISHED)).toEqual([]);
        },
      };
    },
  },
};

const routes = routeIndex(createApp());

interface Bindings {
  db?: FaultyD1;
  rooms?: DurableObjectNamespace;
}

/**
 * Sends the prepared request with `key`, through substituted bindings when given, and checks the
 * answer against what the route documents (status, headers such as Retry-After, body).
 */
async function send(tenant: Tenant, fixture: WriteFixture, prepared: Prepared, key: string, bindings: Bindings = {}): Promise<Response> {
  const headers: Record<string, string> = { Authorization: `Bearer ${tenant.key.secret}`, 'Idempotency-Key': key };
  if (prepared.body !== undefined) headers['Content-Type'] = 'application/json';
  const overrides = { ...(bindings.db ? { DB: bindings.db.db } : {}), ...(bindings.rooms ? { SESSION_ROOM: bindings.rooms } : {}) };
  const response = await callWorker(
    prepared.path,
    { method: fixture.method, headers, ...(prepared.body === undefined ? {} : { body: JSON.stringify(prepared.body) }) },
    overrides,
  );
  await checkResponse(routes, fixture.method, fixture.path, response.clone());
  return response;
}

async function answerOf(response: Response): Promise<unknown> {
  const text = await response.text();
  return text === '' ? undefined : JSON.parse(text);
}

/** A write that failed on our side: 503 / 504 with Retry-After, saying the change may have been made and how to learn it. */
async function expectMayHaveChanged(response: Response, status: 503 | 504) {
  const problem = await expectProblem(response, status, status === 503 ? 'service_unavailable' : 'timeout');
  expect(response.headers.get('Retry-After')).toBe('1');
  expect(problem.detail).toContain('same Idempotency-Key');
  return problem;
}

/** The audit trail grew by exactly the change's event (or not at all, for an operation that is not audited). */
/**
 * The outbox holds: the tenant's events are exactly its audited changes that emit one (same type,
 * same object), so no change committed without its event and no event outlived a change undone.
 */
async function expectEventsMatchAudit(tenant: Tenant): Promise<void> {
  // A test event is audited as the endpoint tested; every other event's type is its audit action,
  // but for presence events, which a session's participants make, and an export's outcome, which its
  // job makes (in the background, so it may land at any point of these tests), not a request. The
  // request-signing policy is the organisation's own, with no id of its own: its audit target is the organisation.
  const types = JSON.stringify([...EMITTED_EVENT_TYPES.filter((type) => type !== 'webhook.test'), 'webhook_endpoint.tested']);
  const audited = await env.DB.prepare(
    `SELECT action || ' ' || target_id AS change FROM audit_events
      WHERE org_id = ?1 AND action IN (SELECT value FROM json_each(?2)) ORDER BY change`,
  )
    .bind(tenant.orgId, types)
    .all<{ change: string }>();
  const evented = await env.DB.prepare(
    `SELECT iif(type = 'webhook.test', 'webhook_endpoint.tested', type) || ' ' || coalesce(json_extract(data, '$.id'), org_id) AS change
       FROM events WHERE org_id = ?1 AND type NOT LIKE 'session.participant_%'
        AND type NOT IN ('organization_export.succeeded', 'organization_export.failed') ORDER BY change`,
  )
    .bind(tenant.orgId)
    .all<{ change: string }>();
  expect(evented.results.map((row) => row.change)).toEqual(audited.results.map((row) => row.change));
}

async function expectAuditedOnce(tenant: Tenant, fixture: WriteFixture, target: string, before: number): Promise<void> {
  await expectEventsMatchAudit(tenant);
  expect(await countRows('audit_events', tenant)).toBe(before + (fixture.action === undefined ? 0 : 1));
  if (fixture.action === undefined) return;
  const { data } = await tenant.api.GET('/v1/audit-events', { params: { query: { action: fixture.action, target_id: target } } });
  expect(data?.data.map((event) => [event.action, event.target_id, event.actor_key_id])).toEqual([[fixture.action, target, tenant.key.id]]);
}

/** Lets a held claim lapse, as its lock would after 60 s (middleware/idempotency.ts). */
async function lapseClaim(tenant: Tenant, key: string): Promise<void> {
  const lapsed = await env.DB.prepare(
    "UPDATE idempotency_keys SET locked_until = '2000-01-01T00:00:00.000Z' WHERE org_id = ?1 AND key = ?2 AND state = 'in_flight'",
  )
    .bind(tenant.orgId, key)
    .run();
  expect(lapsed.meta.changes).toBe(1);
}

async function expectKeyInUse(response: Response): Promise<void> {
  await expectProblem(response, 409, 'idempotency_key_in_use');
  expect(response.headers.get('Retry-After')).toBe('1');
}

/** A fixture's tenant, request, and the audit trail's length before the request. */
async function arrange(fixture: WriteFixture) {
  const tenant = await createTenant();
  const prepared = await fixture.prepare(tenant);
  return { tenant, prepared, audited: await countRows('audit_events', tenant) };
}

const covered = writeOperations.filter((operation) => operation.operationId in WRITE_FIXTURES);

function fixtureOf(operation: WriteOperation): WriteFixture {
  const fixture = WRITE_FIXTURES[operation.operationId];
  if (!fixture) throw new Error(`no fixture for ${operation.operationId}`);
  return fixture;
}

/**
 * Write operations this harness cannot drive, each with why and where its faults are tested instead:
 * the harness repeats every request with the same key and the same API key, which these refuse by design.
 */
const NOT_REPEATABLE: Record<string, string> = {
  eraseOrganization:
    'it revokes the key that sends it, so every repeat is a 401; its faults are tested in test/workflows/organization-erasure.test.ts',
};

it('has a fixture for every write operation in the spec, each documenting 503 and 504 with Retry-After', () => {
  expect(writeOperations.length).toBeGreaterThanOrEqual(10);
  for (const operation of writeOperations) {
    for (const status of ['503', '504']) {
      expect(operation.responses[status]?.headers?.['Retry-After']?.required, `${operation.operationId} ${status}`).toBe(true);
    }
    if (operation.operationId in NOT_REPEATABLE) continue;
    const fixture = WRITE_FIXTURES[operation.operationId];
    expect(fixture, `add a fixture for ${operation.operationId}`).toBeDefined();
    expect([fixture?.method, fixture?.path], operation.operationId).toEqual([operation.method, operation.path]);
    expect(operation.idempotent, `${operation.operationId} holds its Idempotency-Key as`).toBe(fixture?.idempotent);
  }
  expect(Object.keys(WRITE_FIXTURES).sort()).toEqual(
    writeOperations
      .map((operation) => operation.operationId)
      .filter((operationId) => !(operationId in NOT_REPEATABLE))
      .sort(),
  );
});

const coveredByName = covered.map((operation) => [`${operation.operationId} (${operation.method} ${operation.path})`, operation] as const);

describe.each(coveredByName)('%s', (_, operation) => {
  const fixture = fixtureOf(operation);

  it('fails before the write reaches D1: a 503 with Retry-After and nothing made; the repeat with the same key makes it, once', async () => {
    const { tenant, prepared, audited } = await arrange(fixture);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.objectReset }, fixture.write);
    await expectMayHaveChanged(await send(tenant, fixture, prepared, 'fails-first', { db: faulty }), 503);
    expect(faulty.calls.filter(fixture.write)).toHaveLength(1);
    await prepared.notMade();
    expect(await countRows('audit_events', tenant)).toBe(audited);
    await expectEventsMatchAudit(tenant);

    const repeat = await send(tenant, fixture, prepared, 'fails-first');
    expect(repeat.status).toBe(fixture.status);
    expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
    const answer = await answerOf(repeat);
    await prepared.madeOnce(answer);
    await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
  });

  // A lost reply is one of three cases, by what the route's lost write was: an atomic change (its
  // saved answer says it committed), a claimed change, or the claim itself.
  if (fixture.afterLostReply === 'replayed') {
    it('loses the reply after the change committed: the saved answer says so, and the client gets it at once; a repeat replays the same bytes, and nothing is made twice', async () => {
      const { tenant, prepared, audited } = await arrange(fixture);
      const faulty = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, fixture.write);
      const first = await send(tenant, fixture, prepared, 'reply-lost', { db: faulty });
      expect(faulty.calls.filter(fixture.write)).toHaveLength(1);
      expect(first.status).toBe(fixture.status);
      // The answer saved with the change, read back after the batch's reply was lost.
      expect(first.headers.get('Idempotent-Replayed')).toBe('true');
      const text = await first.clone().text();
      const answer = await answerOf(first);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);

      const repeat = await send(tenant, fixture, prepared, 'reply-lost');
      expect(repeat.status).toBe(fixture.status);
      expect(await repeat.text()).toBe(text);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
    });

    it('loses the reply, and the saved answer cannot be read either: a 503 saying the change may have been made; the repeat replays what committed', async () => {
      const { tenant, prepared, audited } = await arrange(fixture);
      const savedAnswer = touching('FROM idempotency_keys WHERE org_id = ?1 AND key = ?2');
      // The batch, then every attempt (3) of the read that would have found its saved answer.
      const faulty = faultyD1(
        { kind: 'lose-reply', message: D1_FAILURES.connectionLost },
        (call) => fixture.write(call) || savedAnswer(call),
        4,
      );
      await expectMayHaveChanged(await send(tenant, fixture, prepared, 'nothing-known', { db: faulty }), 503);
      expect(faulty.calls.filter(savedAnswer)).toHaveLength(3);
      expect(await countRows('audit_events', tenant)).toBe(audited + (fixture.action === undefined ? 0 : 1));

      const repeat = await send(tenant, fixture, prepared, 'nothing-known');
      expect(repeat.status).toBe(fixture.status);
      expect(repeat.headers.get('Idempotent-Replayed')).toBe('true');
      const answer = await answerOf(repeat);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
    });
  } else if (fixture.afterLostReply === 'answered-again') {
    it('loses the reply after the change committed: a 503 with Retry-After; the repeat with the same key runs again and answers the change as made, and nothing is made twice', async () => {
      const { tenant, prepared, audited } = await arrange(fixture);
      const faulty = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, fixture.write);
      await expectMayHaveChanged(await send(tenant, fixture, prepared, 'reply-lost', { db: faulty }), 503);
      expect(faulty.calls.filter(fixture.write)).toHaveLength(1);
      // The change was made, though the client was told it may not have been.
      expect(await countRows('audit_events', tenant)).toBe(audited + 1);

      const repeat = await send(tenant, fixture, prepared, 'reply-lost');
      expect(repeat.status).toBe(fixture.status);
      expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
      const text = await repeat.clone().text();
      const answer = await answerOf(repeat);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
      // Asked once more, it answers the same bytes, and still nothing more is made.
      const again = await send(tenant, fixture, prepared, 'reply-lost');
      expect(again.status).toBe(fixture.status);
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      expect(await again.text()).toBe(text);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
    });
  } else {
    it('loses the reply after the claim committed: a 503 with Retry-After; the repeat gets 409 while the claim holds (60 s, though Retry-After says 1), then makes the change, once', async () => {
      const { tenant, prepared, audited } = await arrange(fixture);
      const faulty = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, fixture.write);
      await expectMayHaveChanged(await send(tenant, fixture, prepared, 'reply-lost', { db: faulty }), 503);
      expect(faulty.calls.filter(fixture.write)).toHaveLength(1);
      // What committed is the claim, not the change: the key is held as if the request were still running.
      await prepared.notMade();
      await expectKeyInUse(await send(tenant, fixture, prepared, 'reply-lost'));
      const held = await env.DB.prepare('SELECT locked_until FROM idempotency_keys WHERE org_id = ?1 AND key = ?2')
        .bind(tenant.orgId, 'reply-lost')
        .first<{ locked_until: string }>();
      expect(Date.parse(held?.locked_until ?? '') - Date.now()).toBeGreaterThan(50_000);
      await prepared.notMade();

      await lapseClaim(tenant, 'reply-lost');
      const repeat = await send(tenant, fixture, prepared, 'reply-lost');
      expect(repeat.status).toBe(fixture.status);
      expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
      const answer = await answerOf(repeat);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
    });
  }
});

// Each of these waits out a real deadline (2 s), so they run concurrently: the whole block takes a
// few deadlines, not one per test. (Their checks read the room's storage rather than open sockets:
// the socket helper's onTestFinished hook cannot run in concurrent tests.)
describe.concurrent('a write or a room call that hangs past its deadline', () => {
  it.each(covered.map((operation) => [operation.operationId, operation] as const))(
    '%s: a 504 with Retry-After at the write deadline; the repeat with the same key makes it, once',
    async (_, operation) => {
      const fixture = fixtureOf(operation);
      const { tenant, prepared, audited } = await arrange(fixture);
      const faulty = faultyD1({ kind: 'hang' }, fixture.write);
      const started = Date.now();
      const response = await send(tenant, fixture, prepared, 'hangs-first', { db: faulty });
      const waited = Date.now() - started;
      await expectMayHaveChanged(response, 504);
      expect(waited).toBeGreaterThanOrEqual(WRITE_DEADLINE_MS - 50);
      expect(waited).toBeLessThan(WRITE_DEADLINE_MS + 1_500);
      await prepared.notMade();
      expect(await countRows('audit_events', tenant)).toBe(audited);

      const repeat = await send(tenant, fixture, prepared, 'hangs-first');
      expect(repeat.status).toBe(fixture.status);
      expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
      const answer = await answerOf(repeat);
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
    },
  );

  // A hung write may still land after the 504, and after the client's repeat has made the change.
  // Shown on one route of each way a repeat is kept from making a change twice: the answer's record
  // at the head of the batch (create), a conditional first statement (update, rotate), the claim
  // and a conditional change (end), the claim alone (publish). Each waits 3 s, hence a subset.
  it.each(['createDevice', 'updateDevice', 'rotateApiKey', 'endSession', 'publishSessionMessage'])(
    '%s: a hung write that lands after its 504 and after the repeat makes nothing more',
    async (operationId) => {
      const fixture = WRITE_FIXTURES[operationId] as WriteFixture;
      const { tenant, prepared, audited } = await arrange(fixture);
      const late = lateD1(WRITE_DEADLINE_MS + 1_000, fixture.write);
      let landedYet = false;
      void late.landed.then(() => {
        landedYet = true;
      });
      await expectMayHaveChanged(await send(tenant, fixture, prepared, 'lands-late', { db: late }), 504);
      const repeat = await send(tenant, fixture, prepared, 'lands-late');
      expect(landedYet).toBe(false);
      expect(repeat.status).toBe(fixture.status);
      expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
      const text = await repeat.clone().text();
      const answer = await answerOf(repeat);

      await late.landed;
      await prepared.madeOnce(answer);
      await expectAuditedOnce(tenant, fixture, prepared.auditTarget(answer), audited);
      const again = await send(tenant, fixture, prepared, 'lands-late');
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      expect(await again.text()).toBe(text);
    },
  );

  it('publishSessionMessage: a room that hangs once is given up on at the room deadline and asked again with the key as the message id: a 202, broadcast once', async () => {
    const fixture = WRITE_FIXTURES.publishSessionMessage as WriteFixture;
    const { tenant, prepared } = await arrange(fixture);
    const rooms = faultyNamespace(env.SESSION_ROOM, 'hang', 1);
    const started = Date.now();
    const response = await send(tenant, fixture, prepared, 'room-hangs', { rooms: rooms.namespace });
    const waited = Date.now() - started;
    expect(response.status).toBe(202);
    expect(rooms.calls()).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(ROOM_DEADLINE_MS - 50);
    await prepared.madeOnce(await answerOf(response));
  });
});

describe('publishing a message: the broadcast is part of the effect (claim)', () => {
  const fixture = WRITE_FIXTURES.publishSessionMessage as WriteFixture;

  it('a room that fails before the message reaches it: a 503 saying it may have been sent; the repeat with the same key broadcasts it, once', async () => {
    const { tenant, prepared } = await arrange(fixture);
    const sessionId = prepared.sessionId ?? '';
    const subscriber = await connect(sessionId, await mintToken(tenant, sessionId, 'client:subscriber'));
    const rooms = faultyNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}), 1);
    const failed = await send(tenant, fixture, prepared, 'room-fails', { rooms: rooms.namespace });
    const problem = await expectProblem(failed, 503, 'service_unavailable');
    expect(failed.headers.get('Retry-After')).toBe('1');
    expect(problem.detail).toContain('Repeat the request with the same Idempotency-Key: the message is not sent twice.');
    expect(rooms.calls()).toBe(1);
    await prepared.notMade();

    const repeat = await send(tenant, fixture, prepared, 'room-fails');
    expect(repeat.status).toBe(202);
    expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
    const answer = await answerOf(repeat);
    await prepared.madeOnce(answer);
    // The subscriber received it once: the repeat's broadcast, and nothing from the failed call.
    await subscriber.until((received) => messagesOnly(received).length > 0);
    expect(messagesOnly(subscriber.received)).toEqual([answer]);
  });

  it("the completion's reply lost after it committed: a 503; the repeat replays the 202, and the message was broadcast once", async () => {
    const { tenant, prepared } = await arrange(fixture);
    const faulty = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, completionOfKey);
    await expectMayHaveChanged(await send(tenant, fixture, prepared, 'completion-lost', { db: faulty }), 503);
    const repeat = await send(tenant, fixture, prepared, 'completion-lost');
    expect(repeat.status).toBe(202);
    expect(repeat.headers.get('Idempotent-Replayed')).toBe('true');
    await prepared.madeOnce(await answerOf(repeat));
  });

  it('the completion fails after the broadcast: a 503; the message was sent, and the key is held (409 with Retry-After) while the claim holds', async () => {
    const { tenant, prepared } = await arrange(fixture);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.connectionLost }, completionOfKey);
    await expectMayHaveChanged(await send(tenant, fixture, prepared, 'completion-fails', { db: faulty }), 503);
    expect(await messagesWith(prepared.sessionId ?? '', PUBLISHED)).toHaveLength(1);
    await expectKeyInUse(await send(tenant, fixture, prepared, 'completion-fails'));
    expect(await messagesWith(prepared.sessionId ?? '', PUBLISHED)).toHaveLength(1);
  });

  // The Idempotency-Key is the message's id in the room, so a broadcast is recognised however the
  // answer was lost: by the Worker's own retry, or by the client's repeat after a 503.
  it('the room broadcast the message but its reply was lost (retryable): the Worker asks again and the room answers with the first broadcast', async () => {
    const { tenant, prepared } = await arrange(fixture);
    const rooms = replyLosingNamespace(env.SESSION_ROOM, objectError('Network connection lost.', { retryable: true }), 1);
    const published = await send(tenant, fixture, prepared, 'room-reply-lost', { rooms: rooms.namespace });
    expect(published.status).toBe(202);
    const stored = await messagesWith(prepared.sessionId ?? '', PUBLISHED);
    expect(stored).toHaveLength(1);
    expect(((await published.json()) as { seq: number }).seq).toBe(stored[0]?.seq);
  });

  it('the room broadcast the message but its reply was lost (not retryable): a 503; the repeat with the same key is answered with the same seq and sends nothing', async () => {
    const { tenant, prepared } = await arrange(fixture);
    const rooms = replyLosingNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}), 1);
    const failed = await send(tenant, fixture, prepared, 'room-reply-lost-final', { rooms: rooms.namespace });
    await expectProblem(failed, 503, 'service_unavailable');
    const stored = await messagesWith(prepared.sessionId ?? '', PUBLISHED);
    expect(stored).toHaveLength(1);
    const repeat = await send(tenant, fixture, prepared, 'room-reply-lost-final');
    expect(repeat.status).toBe(202);
    expect(((await repeat.json()) as { seq: number }).seq).toBe(stored[0]?.seq);
    expect(await messagesWith(prepared.sessionId ?? '', PUBLISHED)).toHaveLength(1);
  });

  it('the completion failed after the broadcast: once the claim lapses, the repeat with the same key is answered with the same seq and sends nothing', async () => {
    const { tenant, prepared } = await arrange(fixture);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.connectionLost }, completionOfKey);
    await expectMayHaveChanged(await send(tenant, fixture, prepared, 'completion-fails', { db: faulty }), 503);
    const stored = await messagesWith(prepared.sessionId ?? '', PUBLISHED);
    expect(stored).toHaveLength(1);
    await lapseClaim(tenant, 'completion-fails');
    const repeat = await send(tenant, fixture, prepared, 'completion-fails');
    expect(repeat.status).toBe(202);
    expect(((await repeat.json()) as { seq: number }).seq).toBe(stored[0]?.seq);
    expect(await messagesWith(prepared.sessionId ?? '', PUBLISHED)).toHaveLength(1);
  });
});

describe('ending a session: closing its sockets is part of the effect (claim)', () => {
  const fixture = WRITE_FIXTURES.endSession as WriteFixture;

  async function arrangeWithSubscriber() {
    const { tenant, prepared } = await arrange(fixture);
    const sessionId = prepared.sessionId ?? '';
    const subscriber = await connect(sessionId, await mintToken(tenant, sessionId, 'client:subscriber'));
    // Counted after the subscriber's token, which is audited too.
    return { tenant, prepared, sessionId, subscriber, audited: await countRows('audit_events', tenant) };
  }

  const stillOpen = (closed: Promise<unknown>) => Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('open'), 200))]);

  it('the room fails after the end committed: a 503 saying so; no token is minted meanwhile; the repeat with the same key closes the sockets, audited once', async () => {
    const { tenant, prepared, audited, sessionId, subscriber } = await arrangeWithSubscriber();
    const rooms = faultyNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}));
    const failed = await send(tenant, fixture, prepared, 'room-fails', { rooms: rooms.namespace });
    const problem = await expectProblem(failed, 503, 'service_unavailable');
    expect(failed.headers.get('Retry-After')).toBe('1');
    expect(problem.detail).toContain('The session is ended');
    expect(problem.detail).toContain('repeat the request to close its open sockets');
    // Ended in D1: no token is minted any more; the socket the room holds is still open.
    const { data } = await tenant.api.GET('/v1/sessions/{id}', { params: { path: { id: sessionId } } });
    expect(data).toMatchObject({ status: 'ended' });
    const refused = await tenant.api.POST('/v1/sessions/{id}/tokens', {
      params: { path: { id: sessionId } },
      body: { participant: 'client:late' },
    });
    await expectProblem(refused, 409, 'session_ended');
    expect(await stillOpen(subscriber.closed)).toBe('open');

    const repeat = await send(tenant, fixture, prepared, 'room-fails');
    expect(repeat.status).toBe(200);
    expect(repeat.headers.get('Idempotent-Replayed')).toBeNull();
    expect(await subscriber.closed).toEqual({ code: 4000, reason: 'session ended' });
    await prepared.madeOnce(await answerOf(repeat));
    await expectAuditedOnce(tenant, fixture, sessionId, audited);
  });

  it('the completion fails after the sockets were closed: a 503; the key is held while the claim holds, then the repeat answers the ended session, audited once', async () => {
    const { tenant, prepared, audited, sessionId, subscriber } = await arrangeWithSubscriber();
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.connectionLost }, completionOfKey);
    await expectMayHaveChanged(await send(tenant, fixture, prepared, 'completion-fails', { db: faulty }), 503);
    expect(await subscriber.closed).toEqual({ code: 4000, reason: 'session ended' });
    await expectKeyInUse(await send(tenant, fixture, prepared, 'completion-fails'));
    await lapseClaim(tenant, 'completion-fails');
    const repeat = await send(tenant, fixture, prepared, 'completion-fails');
    expect(repeat.status).toBe(200);
    await prepared.madeOnce(await answerOf(repeat));
    await expectAuditedOnce(tenant, fixture, sessionId, audited);
  });

  it("the completion's reply lost after it committed: a 503; the repeat replays the 200, audited once", async () => {
    const { tenant, prepared, audited, sessionId, subscriber } = await arrangeWithSubscriber();
    const faulty = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, completionOfKey);
    await expectMayHaveChanged(await send(tenant, fixture, prepared, 'completion-lost', { db: faulty }), 503);
    expect(await subscriber.closed).toEqual({ code: 4000, reason: 'session ended' });
    const repeat = await send(tenant, fixture, prepared, 'completion-lost');
    expect(repeat.status).toBe(200);
    expect(repeat.headers.get('Idempotent-Replayed')).toBe('true');
    await prepared.madeOnce(await answerOf(repeat));
    await expectAuditedOnce(tenant, fixture, sessionId, audited);
  });
});

// What follows a change (close a device's sockets, forget a revoked key in this isolate) follows it
// even when the batch's reply was lost: the request that made the change learns it from the answer
// saved with it, and finishes it before answering (routes/commit.ts).
describe('what follows a change whose reply was lost', () => {
  const lostReply = (fixture: WriteFixture) => faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, fixture.write);

  async function deviceOnline(tenant: Tenant, deviceId: string) {
    const sessionId = await openSession(tenant);
    return connect(sessionId, await mintToken(tenant, sessionId, deviceId));
  }

  it('deleting a device whose reply was lost: the 204 comes, and its socket is closed (4003) first', async () => {
    const fixture = WRITE_FIXTURES.deleteDevice as WriteFixture;
    const { tenant, prepared } = await arrange(fixture);
    const deviceId = prepared.path.split('/').at(-1) ?? '';
    const socket = await deviceOnline(tenant, deviceId);
    const answer = await send(tenant, fixture, prepared, 'delete-lost', { db: lostReply(fixture) });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('Idempotent-Replayed')).toBe('true');
    // Documented: "Its session sockets are closed (close code 4003) before the answer".
    expect(await Promise.race([socket.closed, new Promise((resolve) => setTimeout(() => resolve('open'), 500))])).toMatchObject({
      code: 4003,
    });
  });

  it('disabling a device whose reply was lost: the 200 comes, and its socket is closed (4003) first', async () => {
    const fixture = WRITE_FIXTURES.updateDevice as WriteFixture;
    const { tenant, prepared } = await arrange(fixture);
    const deviceId = prepared.path.split('/').at(-1) ?? '';
    const socket = await deviceOnline(tenant, deviceId);
    const disabling = { ...prepared, body: { status: 'disabled' } };
    const write = batchTouching('UPDATE devices SET name');
    const answer = await send(tenant, fixture, disabling, 'disable-lost', {
      db: faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, write),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('Idempotent-Replayed')).toBe('true');
    // Documented: "Disabling a device closes its session sockets (close code 4003) before the answer".
    expect(await Promise.race([socket.closed, new Promise((resolve) => setTimeout(() => resolve('open'), 500))])).toMatchObject({
      code: 4003,
    });
  });

  it('revoking a key whose reply was lost: the 204 comes, and the key stops working on this instance at once', async () => {
    const fixture = WRITE_FIXTURES.revokeApiKey as WriteFixture;
    const { tenant, prepared } = await arrange(fixture);
    const target = await tenant.addKey({ name: 'used, then revoked' });
    const used = apiClient({ apiKey: target.secret });
    // Used once, so this isolate remembers it (db/api-key-cache.ts).
    expect((await used.GET('/v1/devices')).response.status).toBe(200);
    const revoking = { ...prepared, path: `/v1/api-keys/${target.id}` };
    const answer = await send(tenant, fixture, revoking, 'revoke-lost', { db: lostReply(fixture) });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('Idempotent-Replayed')).toBe('true');
    // Documented: "The key stops working at once on the Worker instance that answers".
    await expectProblem(await used.GET('/v1/devices'), 401, 'unauthorized');
  });
});
