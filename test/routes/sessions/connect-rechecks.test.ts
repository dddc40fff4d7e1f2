/**
 * A connect token says who was allowed in when it was minted; connect checks it again, and a
 * device that is disabled or deleted loses its live sockets too.
 */
import { env } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { purgeEndedDeviceConnections } from '../../../src/db/device-connections.ts';
import type { SessionRoom } from '../../../src/durable-objects/session-room.ts';
import { joinHeaders } from '../../../src/durable-objects/session-room-protocol.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../../src/lib/session-token.ts';
import { CLOSE_CODES } from '../../../src/schemas/realtime.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { connect, connectRequest, mintToken, testRoomSettings } from '../../helpers/realtime.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';

async function setUp(sessionBody: (deviceId: string) => Record<string, unknown> = () => ({})) {
  const tenant = await createTenant();
  const device = (await tenant.api.POST('/v1/devices', { body: { name: 'phone', kind: 'phone' } })).data?.id ?? '';
  const session = (await tenant.api.POST('/v1/sessions', { body: sessionBody(device) })).data?.id ?? '';
  return { tenant, device, session };
}

/**
 * A token signed with the real secret, as a bug in minting would make: connect must not trust its
 * claims alone.
 */
function signedToken(sessionId: string, tenant: Tenant, participant: string): Promise<string> {
  return new SignJWT({ sid: sessionId, org: tenant.orgId, kid: tenant.key.id })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(participant)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(env.SESSION_JWT_SECRET ?? ''));
}

function disable(tenant: Tenant, device: string) {
  return tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device } }, body: { status: 'disabled' } });
}

function roomStub(sessionId: string) {
  // The binding is typed by its shape only (env.ts); its class is fixed by wrangler.toml.
  const namespace = env.SESSION_ROOM as unknown as DurableObjectNamespace<SessionRoom>;
  return namespace.get(namespace.idFromName(sessionId));
}

describe('a token minted for a device stops working when the device does', () => {
  it('disabled after the mint: connect is 403 and no socket opens', async () => {
    const { tenant, device, session } = await setUp();
    const token = await mintToken(tenant, session, device);
    expect((await disable(tenant, device)).response.status).toBe(200);
    const response = await connectRequest(session, { token });
    expect(response.webSocket).toBeNull();
    const problem = await expectProblem(response, 403, 'participant_not_allowed');
    expect(problem.detail).toMatch(/disabled/);
  });

  it('deleted after the mint: connect is 403 and no socket opens', async () => {
    const { tenant, device, session } = await setUp();
    const token = await mintToken(tenant, session, device);
    expect((await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device } } })).response.status).toBe(204);
    const response = await connectRequest(session, { token });
    expect(response.webSocket).toBeNull();
    await expectProblem(response, 403, 'participant_not_allowed');
  });

  it('enabled again, a new token connects', async () => {
    const { tenant, device, session } = await setUp();
    const live = await connect(session, await mintToken(tenant, session, device));
    await disable(tenant, device);
    await live.closed;
    await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device } }, body: { status: 'active' } });
    const again = await connect(session, await mintToken(tenant, session, device));
    expect(again.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('a token whose participant is off the allow-list or not a participant at all is refused at connect', async () => {
    const { tenant, session } = await setUp((device) => ({ allowed_device_ids: [device] }));
    const other = (await tenant.api.POST('/v1/devices', { body: { name: 'other', kind: 'iot' } })).data?.id ?? '';
    for (const participant of [other, 'client:sneaky', 'not a participant']) {
      const response = await connectRequest(session, { token: await signedToken(session, tenant, participant) });
      expect(response.webSocket, participant).toBeNull();
      await expectProblem(response, 403, 'participant_not_allowed');
    }
  });

  it('a device token for a session that does not exist is a 401 and records nothing', async () => {
    const { tenant, device } = await setUp();
    const missing = `ses_${'0'.repeat(22)}`;
    const token = await signedToken(missing, tenant, device);
    await expectProblem(await connectRequest(missing, { token }), 401, 'invalid_token');
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM device_connections WHERE device_id = ?1')
      .bind(device)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });
});

/** The upgrade the Worker forwards to the room once connect has read the device at `version`. */
function joinAfterRead(device: string, version: number): Request {
  return new Request('https://room/connect', {
    headers: joinHeaders({
      participant: device,
      settings: testRoomSettings(),
      lastSeq: undefined,
      epoch: undefined,
      protocol: undefined,
      deviceVersion: version,
      apiKeyId: undefined,
    }),
  });
}

describe('disabling or deleting a device closes its live sockets', () => {
  it.each([
    ['disabled', (tenant: Tenant, device: string) => disable(tenant, device)],
    ['deleted', (tenant: Tenant, device: string) => tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: device } } })],
  ])('%s: every socket of the device closes with 4003, in every session, and the others stay', async (_, change) => {
    const { tenant, device, session } = await setUp();
    const secondSession = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
    const sockets = [
      await connect(session, await mintToken(tenant, session, device)),
      await connect(session, await mintToken(tenant, session, device)),
      await connect(secondSession, await mintToken(tenant, secondSession, device)),
    ];
    const bystander = await connect(session, await mintToken(tenant, session, 'client:bystander'));
    await change(tenant, device);
    // Closed before the API answered: nothing to wait for.
    for (const socket of sockets) expect((await socket.closed).code).toBe(CLOSE_CODES.participantRemoved);
    expect(bystander.socket.readyState).toBe(WebSocket.OPEN);
    const participants = await roomStub(session).participants();
    expect(participants.map((participant) => participant.participant)).toEqual(['client:bystander']);
  });

  it('a connect that read the device before it was disabled cannot join after', async () => {
    const { tenant, device, session } = await setUp();
    const stub = roomStub(session);
    const current = await tenant.api.GET('/v1/devices/{id}', { params: { path: { id: device } } });
    const readVersion = current.data?.version ?? 0;
    // The disable lands between that read and the room join: the room bars joins from older reads.
    await stub.removeParticipant(device, readVersion + 1);
    const stale = await stub.fetch(joinAfterRead(device, readVersion));
    expect(stale.status).toBe(409);
    expect(stale.headers.get('X-Switchyard-Refusal')).toBe('participant_not_allowed');
    // A read from after the change (the device enabled again) is let in and lifts the bar.
    const fresh = await stub.fetch(joinAfterRead(device, readVersion + 2));
    expect(fresh.status).toBe(101);
    fresh.webSocket?.accept();
    fresh.webSocket?.close(1000);
  });

  it("the record of where a device connected is purged once the session's messages are", async () => {
    const { tenant, device, session } = await setUp();
    await connect(session, await mintToken(tenant, session, device));
    const rows = () =>
      env.DB.prepare('SELECT COUNT(*) AS n FROM device_connections WHERE device_id = ?1').bind(device).first<{ n: number }>();
    expect((await rows())?.n).toBe(1);
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session } } });
    // Ended, its room still holds the device's messages: erasing the device must find it.
    await purgeEndedDeviceConnections(env.DB);
    expect((await rows())?.n).toBe(1);
    await env.DB.prepare('UPDATE sessions SET messages_purged_at = ?2 WHERE id = ?1').bind(session, new Date().toISOString()).run();
    await purgeEndedDeviceConnections(env.DB);
    expect((await rows())?.n).toBe(0);
  });
});
