/**
 * Events for tests: one change of every kind that emits an event, made through the generated
 * client, and the events they left, read back through GET /v1/events.
 */
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { insertEvent } from '../../src/db/events.ts';
import { newId } from '../../src/lib/ids.ts';
import { EMITTED_EVENT_TYPES, type EmittedEventType } from '../../src/schemas/events.ts';
import { runExport } from './exports.ts';
import { FIXTURE_PUBLIC_KEY } from './operations.ts';
import { connectRequest, mintToken } from './realtime.ts';
import type { Tenant } from './tenants.ts';

/** Every event of the tenant (read with its own key, which must hold every scope), oldest first. */
export async function eventsOf(tenant: Tenant) {
  const { data, response } = await tenant.api.GET('/v1/events', { params: { query: { limit: 100 } } });
  expect(response.status).toBe(200);
  return data?.data ?? [];
}

/**
 * Waits for the tenant's first event of `type` (a session room writes its presence events to D1
 * moments after it announced them), and returns it.
 */
export async function eventOfType(tenant: Tenant, type: EmittedEventType, timeoutMs = 5_000) {
  let found: Awaited<ReturnType<typeof eventsOf>>[number] | undefined;
  const deadline = Date.now() + timeoutMs;
  while (found === undefined && Date.now() < deadline) {
    const { data } = await tenant.api.GET('/v1/events', { params: { query: { type } } });
    found = data?.data[0];
    if (found === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (found === undefined) throw new Error(`no ${type} event within ${timeoutMs} ms`);
  return found;
}

/**
 * Makes one change of every kind that emits an event: a device registered, changed and deleted; a
 * session opened, joined and left by a participant, and ended; a key created, rotated (its replacement then revoked); an endpoint
 * tested and disabled; a signing key registered, the request-signing policy set, the signing key revoked; an export done, and one failed. Returns, by type, the id of the one event each left. The endpoint's event is written
 * straight to D1, as the delivery consumer writes it after 5 days of failures (that path is
 * test/delivery/webhooks.test.ts's).
 */
export async function emitEveryEventType(tenant: Tenant): Promise<Record<EmittedEventType, string>> {
  const device = (await tenant.api.POST('/v1/devices', { body: { name: 'every event', kind: 'iot' } })).data?.id ?? '';
  await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device } }, body: { name: 'renamed' } });
  await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device } } });
  const session = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
  // A bare socket, not connect()'s: this runs in beforeAll too, outside any test.
  const upgrade = await connectRequest(session, { token: await mintToken(tenant, session, 'client:every-event') });
  upgrade.webSocket?.accept();
  await eventOfType(tenant, 'session.participant_joined');
  upgrade.webSocket?.close(1000, 'done');
  await eventOfType(tenant, 'session.participant_left');
  await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session } } });
  const key = (await tenant.api.POST('/v1/api-keys', { body: { name: 'every event', scopes: ['devices:read'] } })).data?.id ?? '';
  const rotated = await tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: key } }, body: { grace_period_seconds: 60 } });
  await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: rotated.data?.id ?? '' } } });
  const endpoint = (await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/every-event' } })).data;
  if (!endpoint) throw new Error('no endpoint');
  const { secret: _secret, ...presented } = endpoint;
  const data = JSON.stringify({ ...presented, enabled: false, version: presented.version + 1 });
  const disabledAt = new Date().toISOString();
  await insertEvent(env.DB, {
    id: newId('event'),
    orgId: tenant.orgId,
    type: 'webhook_endpoint.disabled',
    data,
    createdAt: disabledAt,
  }).run();
  const signingKey = await tenant.api.POST('/v1/signing-keys', {
    body: { name: 'every event', public_key: { kty: 'OKP', crv: 'Ed25519', x: FIXTURE_PUBLIC_KEY.x } },
  });
  await tenant.api.PUT('/v1/organization/request-signing', { body: { required: false } });
  await tenant.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id: signingKey.data?.id ?? '' } } });
  await tenant.api.PATCH('/v1/organization', { body: { name: 'every event' } });
  // An export asked for and done (its Workflow run to the end); a failed one written straight to D1.
  const exported = await runExport(tenant);
  await insertEvent(env.DB, {
    id: newId('event'),
    orgId: tenant.orgId,
    type: 'organization_export.failed',
    data: JSON.stringify({ ...exported, status: 'failed', error_code: 'step_failed', size_bytes: null, archive_url: null }),
    createdAt: new Date().toISOString(),
  }).run();
  await tenant.api.POST('/v1/webhook-endpoints/{id}/test', { params: { path: { id: endpoint.id } } });
  const events = await eventsOf(tenant);
  expect(events.map((event) => event.type).sort()).toEqual([...EMITTED_EVENT_TYPES].sort());
  return Object.fromEntries(events.map((event) => [event.type, event.id])) as Record<EmittedEventType, string>;
}
