/**
 * Erasing a device (issue 17 §3): `DELETE /v1/devices/{id}?erase=true` deletes the device, redacts
 * its personal data in the audit log and the events in the same batch, and the erasure job removes
 * its messages from the history of every session it took part in, open or ended; other devices'
 * messages and data stay as they were, and another organisation's device is a 404.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import * as auditEvents from '../../src/db/audit-events.ts';
import * as deviceErasures from '../../src/db/device-erasures.ts';
import * as devices from '../../src/db/devices.ts';
import * as events from '../../src/db/events.ts';
import { CLOSE_CODES } from '../../src/schemas/realtime.ts';
import { roomStorage, watchErasure } from '../helpers/erasure.ts';
import { expectProblem } from '../helpers/problem.ts';
import { connect, mintToken, openSession, type TestSocket } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { apiClient } from '../helpers/worker.ts';

const USER_AGENT = 'ana-admin-console/2.1 (Ana Lima)';

async function createDevice(api: Tenant['api'], name: string): Promise<string> {
  const { data } = await api.POST('/v1/devices', {
    body: { name, kind: 'phone', external_id: `user-${name}`, metadata: { email: `${name}@example.com` }, tags: ['vip'] },
  });
  if (!data) throw new Error('no device');
  await api.PATCH('/v1/devices/{id}', { params: { path: { id: data.id } }, body: { tags: ['vip', 'beta'] } });
  return data.id;
}

async function say(socket: TestSocket, id: string): Promise<void> {
  socket.send({ type: 'message', id, payload: { text: `${id} from a person` } });
  await socket.until((received) => received.some((frame) => frame.type === 'published' && frame.id === id));
}

async function history(tenant: Tenant, sessionId: string) {
  const { data } = await tenant.api.GET('/v1/sessions/{id}/messages', { params: { path: { id: sessionId }, query: { limit: 1000 } } });
  return data?.data ?? [];
}

async function auditOf(tenant: Tenant, deviceId: string) {
  const { results } = await env.DB.prepare(
    "SELECT action, ip_hash, user_agent FROM audit_events WHERE org_id = ?1 AND target_type = 'device' AND target_id = ?2 ORDER BY created_at",
  )
    .bind(tenant.orgId, deviceId)
    .all<{ action: string; ip_hash: string | null; user_agent: string | null }>();
  return results;
}

async function deviceEventsOf(tenant: Tenant, deviceId: string) {
  const { results } = await env.DB.prepare(
    "SELECT type, data FROM events WHERE org_id = ?1 AND type LIKE 'device.%' AND json_extract(data, '$.id') = ?2 ORDER BY created_at",
  )
    .bind(tenant.orgId, deviceId)
    .all<{ type: string; data: string }>();
  return results.map((row) => ({ type: row.type, data: JSON.parse(row.data) as Record<string, unknown> }));
}

describe('DELETE /v1/devices/{id}?erase=true', () => {
  it("removes the device's messages from every session's history, and its personal data from the audit log and events", async () => {
    const tenant = await createTenant();
    // Requests from a person's console: the audit log keeps its IP's hash and its User-Agent.
    const adminConsole = apiClient({ apiKey: tenant.key.secret, headers: { 'User-Agent': USER_AGENT, 'CF-Connecting-IP': '203.0.113.7' } });
    const erased = await createDevice(adminConsole, 'ana');
    const kept = await createDevice(adminConsole, 'bruno');
    const shared = await openSession(tenant);
    const ended = await openSession(tenant);
    const erasedSocket = await connect(shared, await mintToken(tenant, shared, erased));
    const keptSocket = await connect(shared, await mintToken(tenant, shared, kept));
    await say(erasedSocket, 'ana-1');
    await say(keptSocket, 'bruno-1');
    await say(erasedSocket, 'ana-2');
    await tenant.api.POST('/v1/sessions/{id}/messages', {
      params: { path: { id: shared } },
      body: { payload: { text: 'from the server' } },
    });
    const inEnded = await connect(ended, await mintToken(tenant, ended, erased));
    await say(inEnded, 'ana-3');
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: ended } } });
    const keptBefore = (await history(tenant, shared)).filter((message) => message.sender !== erased);
    expect((await history(tenant, shared)).filter((message) => message.sender === erased).length).toBeGreaterThanOrEqual(3);
    expect((await auditOf(tenant, erased)).every((row) => row.user_agent === USER_AGENT && row.ip_hash !== null)).toBe(true);

    const job = await watchErasure({ kind: 'device', orgId: tenant.orgId, deviceId: erased });
    const { response } = await adminConsole.DELETE('/v1/devices/{id}', { params: { path: { id: erased }, query: { erase: 'true' } } });

    expect(response.status).toBe(204);
    expect((await erasedSocket.closed).code).toBe(CLOSE_CODES.participantRemoved);
    await job.waitForStatus('complete');
    expect(await job.getOutput()).toEqual({ messages: expect.any(Number) });

    // Its messages and presence announcements are gone from both sessions; everyone else's stay, seq and all.
    expect((await history(tenant, shared)).filter((message) => message.sender === erased)).toEqual([]);
    expect((await history(tenant, ended)).filter((message) => message.sender === erased)).toEqual([]);
    const keptAfter = await history(tenant, shared);
    expect(keptAfter.slice(0, keptBefore.length)).toEqual(keptBefore);
    expect(keptAfter.some((message) => message.sender === 'server')).toBe(true);
    const sharedRoom = await roomStorage(shared);
    expect(sharedRoom.rows.published_ids).toBe(1);
    // The audit log keeps every row of it (created, updated, deleted), without the IP hash or User-Agent.
    expect(await auditOf(tenant, erased)).toEqual([
      { action: 'device.created', ip_hash: null, user_agent: null },
      { action: 'device.updated', ip_hash: null, user_agent: null },
      { action: 'device.deleted', ip_hash: null, user_agent: null },
    ]);
    // Its events keep their shape, without what identifies it.
    const events = await deviceEventsOf(tenant, erased);
    expect(events.map((event) => event.type)).toEqual(['device.created', 'device.updated', 'device.deleted']);
    for (const { data } of events) {
      expect(data).toMatchObject({ id: erased, name: '[erased]', external_id: null, metadata: {}, tags: [], kind: 'phone' });
    }
    // The other device: untouched.
    expect((await auditOf(tenant, kept)).every((row) => row.user_agent === USER_AGENT && row.ip_hash !== null)).toBe(true);
    for (const { data } of await deviceEventsOf(tenant, kept)) expect(data).toMatchObject({ name: 'bruno', external_id: 'user-bruno' });
    expect(keptSocket.socket.readyState).toBe(WebSocket.OPEN);
    // Nothing is left to find its rooms by, and the erasure is done.
    const pending = await env.DB.prepare(
      'SELECT (SELECT COUNT(*) FROM device_erasures WHERE device_id = ?1) + (SELECT COUNT(*) FROM device_connections WHERE device_id = ?1) AS n',
    )
      .bind(erased)
      .first<{ n: number }>();
    expect(pending?.n).toBe(0);
  });

  it("is a 404 for another organisation's device, which keeps everything", async () => {
    const owner = await createTenant();
    const stranger = await createTenant();
    const device = await createDevice(owner.api, 'carla');
    const eventsBefore = await deviceEventsOf(owner, device);

    await expectProblem(
      await stranger.api.DELETE('/v1/devices/{id}', { params: { path: { id: device }, query: { erase: 'true' } } }),
      404,
      'not_found',
    );

    expect((await owner.api.GET('/v1/devices/{id}', { params: { path: { id: device } } })).data).toMatchObject({ name: 'carla' });
    expect(await deviceEventsOf(owner, device)).toEqual(eventsBefore);
    const pending = await env.DB.prepare('SELECT COUNT(*) AS n FROM device_erasures WHERE device_id = ?1')
      .bind(device)
      .first<{ n: number }>();
    expect(pending?.n).toBe(0);
  });

  it('redacts nothing when the deletion is refused (a stale If-Match)', async () => {
    const tenant = await createTenant();
    const adminConsole = apiClient({ apiKey: tenant.key.secret, headers: { 'User-Agent': USER_AGENT, 'CF-Connecting-IP': '203.0.113.7' } });
    const device = await createDevice(adminConsole, 'dora');

    await expectProblem(
      await adminConsole.DELETE('/v1/devices/{id}', {
        params: { path: { id: device }, query: { erase: 'true' }, header: { 'If-Match': '"v1"' } },
      }),
      412,
      'precondition_failed',
    );

    expect((await auditOf(tenant, device)).every((row) => row.user_agent === USER_AGENT)).toBe(true);
    for (const { data } of await deviceEventsOf(tenant, device)) expect(data).toMatchObject({ name: 'dora' });
  });

  it('redacts nothing when the DELETE in its batch changes no row (the device changed after it was read)', async () => {
    const tenant = await createTenant();
    const adminConsole = apiClient({ apiKey: tenant.key.secret, headers: { 'User-Agent': USER_AGENT, 'CF-Connecting-IP': '203.0.113.7' } });
    const device = await createDevice(adminConsole, 'fred');
    const now = new Date().toISOString();

    // The route's batch, with the version its read saw one change ago.
    await env.DB.batch([
      devices.deleteDevice(env.DB, tenant.orgId, device, 1),
      deviceErasures.insertDeviceErasure(env.DB, tenant.orgId, device, now),
      auditEvents.redactDeviceAuditEvents(env.DB, tenant.orgId, device),
      events.redactDeviceEvents(env.DB, tenant.orgId, device, '[erased]'),
    ]);

    expect((await adminConsole.GET('/v1/devices/{id}', { params: { path: { id: device } } })).response.status).toBe(200);
    expect((await auditOf(tenant, device)).every((row) => row.user_agent === USER_AGENT && row.ip_hash !== null)).toBe(true);
    for (const { data } of await deviceEventsOf(tenant, device)) expect(data).toMatchObject({ name: 'fred' });
  });

  it('without erase, deletes the device and keeps its history and audit data', async () => {
    const tenant = await createTenant();
    const adminConsole = apiClient({ apiKey: tenant.key.secret, headers: { 'User-Agent': USER_AGENT } });
    const device = await createDevice(adminConsole, 'eva');
    const session = await openSession(tenant);
    const socket = await connect(session, await mintToken(tenant, session, device));
    await say(socket, 'eva-1');

    expect(
      (await adminConsole.DELETE('/v1/devices/{id}', { params: { path: { id: device }, query: { erase: 'false' } } })).response.status,
    ).toBe(204);

    expect((await history(tenant, session)).some((message) => message.sender === device)).toBe(true);
    expect((await auditOf(tenant, device)).every((row) => row.user_agent === USER_AGENT)).toBe(true);
  });
});
