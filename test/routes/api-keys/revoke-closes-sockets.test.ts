/**
 * A connect token is only as good as the API key that minted it: revoking the key closes, at once,
 * every session socket opened with its tokens (4004) and refuses the tokens it minted at connect; a
 * key that expired (after a rotation's grace period, say) has its tokens refused at connect too.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SessionRoom } from '../../../src/durable-objects/session-room.ts';
import { CLOSE_CODES } from '../../../src/schemas/realtime.ts';
import { faultyNamespace, objectError } from '../../helpers/faults.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { connect, connectRequest, messagesOnly, mintToken, openSession } from '../../helpers/realtime.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { apiClient, callWorker } from '../../helpers/worker.ts';

/** The tenant, and two more keys of its organisation that mint tokens: A (the one revoked) and B. */
async function setUp() {
  const tenant = await createTenant();
  const asKey = async (): Promise<Tenant> => {
    const key = await tenant.addKey();
    return { ...tenant, key, api: apiClient({ apiKey: key.secret }) };
  };
  return { tenant, a: await asKey(), b: await asKey() };
}

function revoke(tenant: Tenant, keyId: string) {
  return tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: keyId } } });
}

function roomStub(sessionId: string) {
  // The binding is typed by its shape only (env.ts); its class is fixed by wrangler.toml.
  const namespace = env.SESSION_ROOM as unknown as DurableObjectNamespace<SessionRoom>;
  return namespace.get(namespace.idFromName(sessionId));
}

async function addDevice(tenant: Tenant): Promise<string> {
  const created = await tenant.api.POST('/v1/devices', { body: { name: 'phone', kind: 'phone' } });
  if (!created.data) throw new Error(`could not create a device: ${created.response.status}`);
  return created.data.id;
}

describe('revoking an API key closes the sockets opened with its tokens, and only those', () => {
  it("closes every socket of A's tokens with 4004, in every session; B's socket stays open and still receives messages", async () => {
    const { tenant, a, b } = await setUp();
    const session = await openSession(tenant);
    const secondSession = await openSession(tenant);
    const device = await addDevice(tenant);
    const ofA = [
      await connect(session, await mintToken(a, session, 'client:shared')),
      await connect(session, await mintToken(a, session, device)),
      await connect(secondSession, await mintToken(a, secondSession, 'client:elsewhere')),
    ];
    // The same participant as one of A's sockets: what is closed is chosen by key, not by participant.
    const ofB = await connect(session, await mintToken(b, session, 'client:shared'));

    expect((await revoke(tenant, a.key.id)).response.status).toBe(204);

    // Closed before the API answered: nothing to wait for.
    for (const socket of ofA) expect((await socket.closed).code).toBe(CLOSE_CODES.tokenRevoked);
    expect(ofB.socket.readyState).toBe(WebSocket.OPEN);
    const published = await tenant.api.POST('/v1/sessions/{id}/messages', {
      params: { path: { id: session } },
      body: { payload: { after: 'revocation' } },
    });
    expect(published.response.status).toBe(202);
    await ofB.until((received) => messagesOnly(received).some((frame) => JSON.stringify(frame.payload) === '{"after":"revocation"}'));
  });

  it('refuses at connect a token A minted before it was revoked, for a client and for a device', async () => {
    const { tenant, a } = await setUp();
    const session = await openSession(tenant);
    const device = await addDevice(tenant);
    const tokens = [await mintToken(a, session, 'client:late'), await mintToken(a, session, device)];

    await revoke(tenant, a.key.id);

    for (const token of tokens) {
      const response = await connectRequest(session, { token });
      expect(response.webSocket).toBeNull();
      expect(response.headers.get('WWW-Authenticate')).toContain('invalid_token');
      await expectProblem(response, 401, 'invalid_token');
    }
  });

  it('a connect that read A before the revocation but reaches the room after it is refused like any bad token', async () => {
    const { tenant, a, b } = await setUp();
    const session = await openSession(tenant);
    const tokenOfA = await mintToken(a, session);
    // The revocation reaches the room while A still stands in D1: exactly what a connect sees that
    // read A just before the revocation committed and joins just after the room heard of it.
    await roomStub(session).revokeApiKey(a.key.id);

    const refused = await connectRequest(session, { token: tokenOfA });
    expect(refused.webSocket).toBeNull();
    expect(refused.headers.get('WWW-Authenticate')).toContain('invalid_token');
    await expectProblem(refused, 401, 'invalid_token');
    // Another key's token still joins the same room.
    const ofB = await connect(session, await mintToken(b, session));
    expect(ofB.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('reaches a socket for as long as its session lives, not only while its token does', async () => {
    const { tenant, a } = await setUp();
    const session = await openSession(tenant);
    await mintToken(a, session);
    // A socket outlives the token it was opened with (30 s to 15 min), but not its session.
    const grant = await env.DB.prepare(
      `SELECT g.expires_at AS grant_expires_at, s.expires_at AS session_expires_at
         FROM session_key_grants g JOIN sessions s ON s.id = g.session_id WHERE g.api_key_id = ?1 AND g.session_id = ?2`,
    )
      .bind(a.key.id, session)
      .first<{ grant_expires_at: string; session_expires_at: string }>();
    expect(grant?.grant_expires_at).toBe(grant?.session_expires_at);
  });
});

describe('a room the revocation cannot reach', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('does not fail the revocation: it is logged, the other rooms close their sockets, and connect refuses the token anyway', async () => {
    const { tenant, a } = await setUp();
    const failing = await openSession(tenant);
    const healthy = await openSession(tenant);
    const unreached = await connect(failing, await mintToken(a, failing));
    const unused = await mintToken(a, failing);
    const closed = await connect(healthy, await mintToken(a, healthy));
    const faulty = faultyNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}), Number.POSITIVE_INFINITY, failing);
    const written: string[] = [];
    for (const method of ['log', 'warn', 'error'] as const) {
      vi.spyOn(console, method).mockImplementation((line: unknown) => {
        written.push(String(line));
      });
    }

    const revoked = await callWorker(
      `/v1/api-keys/${a.key.id}`,
      { method: 'DELETE', headers: { Authorization: `Bearer ${tenant.key.secret}` } },
      { SESSION_ROOM: faulty.namespace },
    );

    expect(revoked.status).toBe(204);
    expect((await closed.closed).code).toBe(CLOSE_CODES.tokenRevoked);
    const warning = written.find((line) => line.includes("could not close a revoked API key's sockets"));
    expect(warning).toContain(failing);
    expect(warning).toContain(a.key.id);
    // Its socket stays open until the session ends; no new one opens with the key's tokens.
    expect(unreached.socket.readyState).toBe(WebSocket.OPEN);
    await expectProblem(await connectRequest(failing, { token: unused }), 401, 'invalid_token');
  });
});

describe('rotating an API key', () => {
  function rotate(tenant: Tenant, keyId: string, graceSeconds: number) {
    return tenant.api.POST('/v1/api-keys/{id}/rotate', {
      params: { path: { id: keyId } },
      body: { grace_period_seconds: graceSeconds },
    });
  }

  it("with a grace period of 0, closes the old key's sockets with 4004 and refuses its tokens", async () => {
    const { tenant, a, b } = await setUp();
    const session = await openSession(tenant);
    const ofA = await connect(session, await mintToken(a, session));
    const unused = await mintToken(a, session);
    const ofB = await connect(session, await mintToken(b, session));

    expect((await rotate(tenant, a.key.id, 0)).response.status).toBe(201);

    expect((await ofA.closed).code).toBe(CLOSE_CODES.tokenRevoked);
    expect(ofB.socket.readyState).toBe(WebSocket.OPEN);
    await expectProblem(await connectRequest(session, { token: unused }), 401, 'invalid_token');
  });

  it("with a grace period, leaves the old key's sockets open and its tokens good until it expires", async () => {
    const { tenant, a } = await setUp();
    const session = await openSession(tenant);
    const ofA = await connect(session, await mintToken(a, session));
    const unused = await mintToken(a, session);

    expect((await rotate(tenant, a.key.id, 3600)).response.status).toBe(201);

    const stillGood = await connect(session, unused);
    expect(stillGood.socket.readyState).toBe(WebSocket.OPEN);
    expect(ofA.socket.readyState).toBe(WebSocket.OPEN);
  });
});

describe("an expired key's tokens", () => {
  it('are refused at connect, for a client and for a device', async () => {
    const { tenant, a } = await setUp();
    const session = await openSession(tenant);
    const device = await addDevice(tenant);
    const tokens = [await mintToken(a, session, 'client:late'), await mintToken(a, session, device)];
    // The key's expiry passes between the mint and the connect (as a rotation's grace period ends).
    await env.DB.prepare('UPDATE api_keys SET expires_at = ?2 WHERE id = ?1')
      .bind(a.key.id, new Date(Date.now() - 1000).toISOString())
      .run();

    for (const token of tokens) {
      const response = await connectRequest(session, { token });
      expect(response.webSocket).toBeNull();
      await expectProblem(response, 401, 'invalid_token');
    }
  });
});
