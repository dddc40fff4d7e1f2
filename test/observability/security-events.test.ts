/**
 * Security events (lib/security-events.ts): every refusal that matters is one `security_event` log
 * line, with the documented fields and the request id, and a `security` metric; and nothing a caller
 * sent as a credential, nor its address, is in any line the Worker writes meanwhile.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateApiKey } from '../../src/lib/api-key.ts';
import { captureMetrics } from '../helpers/metrics.ts';
import { connect, connectRequest, mintToken, openSession, waitFor } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

const CLIENT_IP = '203.0.113.77';

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

function captureLogs() {
  const lines: string[] = [];
  for (const method of ['log', 'warn', 'error', 'info', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
  }
  return {
    lines,
    securityEvents: (): LogLine[] => lines.map((line) => JSON.parse(line) as LogLine).filter((line) => line.msg === 'security_event'),
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

let ipCount = 0;
/** A client address of its own per test: the brute-force guard counts per IP. */
function freshIp(): string {
  ipCount += 1;
  return `198.51.100.${ipCount}`;
}

function withKey(secret: string, headers: Record<string, string> = {}): RequestInit {
  return { headers: { Authorization: `Bearer ${secret}`, 'CF-Connecting-IP': CLIENT_IP, ...headers } };
}

function expectNoSecrets(lines: string[], secrets: string[]): void {
  for (const secret of [...secrets, CLIENT_IP]) {
    for (const line of lines) expect(line, `a log line contains ${secret}`).not.toContain(secret);
  }
}

describe('security_event lines', () => {
  it.each([
    ['an unknown key', async () => ({ secret: (await generateApiKey('test')).secret, id: null }), 'unknown_key', false],
    ['a revoked key', (tenant: Tenant) => tenant.addKey({ revoked: true }), 'revoked_key', true],
    ['an expired key', (tenant: Tenant) => tenant.addKey({ expiresInMs: -1_000 }), 'expired_key', true],
    ['a malformed key', async () => ({ secret: 'sy_test_not-a-key', id: null }), 'malformed_key', false],
  ])('name %s as auth_failed with its reason, which the 401 does not tell', async (_, keyOf, reason, known) => {
    const tenant = await createTenant();
    const key = await keyOf(tenant);
    const secret = key.secret;
    const logs = captureLogs();
    const response = await callWorker('/v1/devices', withKey(secret));
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain(reason);
    const [line] = logs.securityEvents();
    expect(logs.securityEvents()).toHaveLength(1);
    expect(line).toMatchObject({
      level: 'warn',
      event: 'auth_failed',
      reason,
      request_id: response.headers.get('X-Request-Id'),
      route: '/v1/devices',
      method: 'GET',
      status: 401,
      // A key that exists (revoked, expired) names its organisation and id; a made-up one nothing.
      org_id: known ? tenant.orgId : null,
      key_id: known ? key.id : null,
    });
    expect(line?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    // The guard's keyed hash of the address, never the address.
    expect(line?.ip_hash).toMatch(/^[0-9a-f]{16,}$/);
    expectNoSecrets(logs.lines, [secret]);
  });

  it('name a missing key, and a key sent in the query string without writing it', async () => {
    const tenant = await createTenant();
    const logs = captureLogs();
    await callWorker('/v1/devices', { headers: { 'CF-Connecting-IP': CLIENT_IP } });
    await callWorker(`/v1/devices?api_key=${tenant.key.secret}`, { headers: { 'CF-Connecting-IP': CLIENT_IP } });
    expect(logs.securityEvents().map((line) => [line.event, line.reason])).toEqual([
      ['auth_failed', 'missing_key'],
      ['auth_failed', 'key_in_query'],
    ]);
    expectNoSecrets(logs.lines, [tenant.key.secret]);
  });

  it('name a Switchyard-Bookmark this API did not sign as bookmark_refused, without writing it', async () => {
    const tenant = await createTenant();
    const issued = (await callWorker('/v1/devices', withKey(tenant.key.secret))).headers.get('Switchyard-Bookmark') ?? '';
    expect(issued).toMatch(/^[0-9A-Za-z-]+\.[A-Za-z0-9_-]{43}$/);
    // The bookmark moved on, its MAC kept: what someone making replicas wait would send.
    const forged = issued.replace(/^[^.]+/, 'ffffffff-ffffffff-ffffffff-ffffffffffffffffffffffffffffffff');
    const logs = captureLogs();
    const response = await callWorker('/v1/devices', withKey(tenant.key.secret, { 'Switchyard-Bookmark': forged }));
    expect(response.status).toBe(400);
    expect(logs.securityEvents()).toEqual([
      expect.objectContaining({
        event: 'bookmark_refused',
        reason: 'not_issued',
        length: forged.length,
        request_id: response.headers.get('X-Request-Id'),
        method: 'GET',
        status: 400,
      }),
    ]);
    expectNoSecrets(logs.lines, [tenant.key.secret, forged, issued.split('.')[1] ?? issued]);
  });

  it('name a scope denial with the scope, the organisation and the key', async () => {
    const tenant = await createTenant({ scopes: ['devices:read'] });
    const logs = captureLogs();
    const response = await callWorker('/v1/devices', {
      method: 'POST',
      headers: { ...withKey(tenant.key.secret).headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'denied', kind: 'iot' }),
    });
    expect(response.status).toBe(403);
    expect(logs.securityEvents()).toEqual([
      expect.objectContaining({
        event: 'scope_denied',
        reason: 'missing_scope',
        scope: 'devices:write',
        org_id: tenant.orgId,
        key_id: tenant.key.id,
        route: '/v1/devices',
        method: 'POST',
        status: 403,
      }),
    ]);
    expectNoSecrets(logs.lines, [tenant.key.secret]);
  });

  it('name an escalation: a key asking for a key with scopes it lacks', async () => {
    const tenant = await createTenant({ scopes: ['keys:admin'] });
    const logs = captureLogs();
    const response = await callWorker('/v1/api-keys', {
      method: 'POST',
      headers: { ...withKey(tenant.key.secret).headers, 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() },
      body: JSON.stringify({ name: 'stronger', scopes: ['devices:write'] }),
    });
    expect(response.status).toBe(403);
    expect(logs.securityEvents()).toEqual([
      expect.objectContaining({ event: 'scope_denied', reason: 'scope_beyond_caller', scopes: 'devices:write' }),
    ]);
  });

  it('name the spent brute-force limit as rate_limited with its policy', async () => {
    const ip = freshIp();
    const logs = captureLogs();
    const guess = () =>
      callWorker(
        '/v1/devices',
        { headers: { Authorization: 'Bearer sy_test_guess', 'CF-Connecting-IP': ip } },
        { AUTH_FAILURE_LIMIT: '1' },
      );
    expect((await guess()).status).toBe(401);
    expect((await guess()).status).toBe(429);
    expect(logs.securityEvents().map((line) => [line.event, line.reason, line.status])).toEqual([
      ['auth_failed', 'malformed_key', 401],
      ['rate_limited', 'auth-failures', 429],
    ]);
    expectNoSecrets(logs.lines, [ip]);
  });

  it('name a request from an Origin off the allowlist as cors_refused, and the own origin not at all', async () => {
    const logs = captureLogs();
    await callWorker('/health', { headers: { Origin: 'https://evil.example' } });
    await callWorker('/health', {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    await callWorker('/health', { headers: { Origin: 'https://switchyard.test' } });
    await callWorker('/health', { headers: { Origin: 'http://localhost:5173' } });
    expect(logs.securityEvents().map((line) => [line.event, line.reason, line.origin])).toEqual([
      ['cors_refused', 'origin_not_allowed', 'https://evil.example'],
      ['cors_refused', 'preflight_origin_not_allowed', 'https://evil.example'],
    ]);
  });

  it('name a refused connect token with why, and a refused Origin on connect', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const token = await mintToken(tenant, sessionId);
    const forged = `${token.slice(0, -4)}AAAA`;
    const otherSession = await openSession(tenant);
    const logs = captureLogs();
    await connectRequest(sessionId, { token: forged });
    await connectRequest(otherSession, { token });
    await connectRequest(sessionId, { token, headers: { Origin: 'https://evil.example' } });
    expect(logs.securityEvents().map((line) => [line.event, line.reason, line.status])).toEqual([
      ['token_refused', 'bad_signature', 401],
      ['token_refused', 'wrong_session', 401],
      ['origin_refused', 'origin_not_on_allowlist', 403],
    ]);
    expectNoSecrets(logs.lines, [token, forged, token.split('.')[2] ?? token]);
  });

  it('name an invalid frame, with the session and participant', async () => {
    const tenant = await createTenant();
    const sessionId = await openSession(tenant);
    const client = await connect(sessionId, await mintToken(tenant, sessionId, 'client:noisy'));
    const logs = captureLogs();
    client.send('{"type": "publish", "payload": ');
    client.send({ type: 'shout' });
    await waitFor(() => logs.securityEvents().length === 2);
    expect(logs.securityEvents()).toEqual([
      expect.objectContaining({
        event: 'frame_refused',
        reason: 'json_malformed',
        participant: 'client:noisy',
        session_id: sessionId,
        org_id: tenant.orgId,
      }),
      expect.objectContaining({ event: 'frame_refused', reason: 'not_a_client_frame', participant: 'client:noisy', session_id: sessionId }),
    ]);
  });

  it('name a webhook URL that points inwards as ssrf_refused', async () => {
    const tenant = await createTenant();
    const logs = captureLogs();
    const { response } = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://10.0.0.8/hooks' } });
    expect(response.status).toBe(400);
    expect(logs.securityEvents()).toEqual([
      expect.objectContaining({
        event: 'ssrf_refused',
        reason: 'url_not_allowed',
        status: 400,
        org_id: tenant.orgId,
        route: '/v1/webhook-endpoints',
      }),
    ]);
  });

  it('each write a security metric with the same event and reason', async () => {
    const tenant = await createTenant({ scopes: ['devices:read'] });
    captureLogs();
    const metrics = captureMetrics();
    await callWorker('/v1/devices', withKey('sy_test_guess'));
    await callWorker('/v1/devices', {
      method: 'POST',
      headers: { ...withKey(tenant.key.secret).headers, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(metrics.points('security').map((point) => [point.name, point.detail, point.value])).toEqual([
      ['auth_failed', 'malformed_key', 401],
      ['scope_denied', 'missing_scope', 403],
    ]);
  });
});
