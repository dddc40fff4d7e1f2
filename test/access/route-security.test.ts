/**
 * The shared security suite: every authenticated operation in the committed spec is called with
 * no key, a malformed key, a key with a bad checksum, an unknown key, a revoked key, an expired
 * key, a key lacking its scope, and (for operations on one object) a key of another organisation.
 * A new route is covered by adding its request to OPERATION_FIXTURES; a route without one fails.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/lib/api-key.ts';
import { SCOPES } from '../../src/schemas/scopes.ts';
import { FIXTURE_PUBLIC_KEY, OPERATION_FIXTURES, type Operation, operations, type Target } from '../helpers/operations.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

/** Per target: the table its rows live in, and a well-formed id that exists nowhere. */
const TARGETS: Record<Target, { table: string; missingId: string }> = {
  apiKey: { table: 'api_keys', missingId: `key_${'0'.repeat(22)}` },
  device: { table: 'devices', missingId: `dev_${'0'.repeat(22)}` },
  session: { table: 'sessions', missingId: `ses_${'0'.repeat(22)}` },
  webhookEndpoint: { table: 'webhook_endpoints', missingId: `whe_${'0'.repeat(22)}` },
  event: { table: 'events', missingId: `msg_${'0'.repeat(22)}` },
  signingKey: { table: 'signing_keys', missingId: `sig_${'0'.repeat(22)}` },
  organizationExport: { table: 'organization_exports', missingId: `exp_${'0'.repeat(22)}` },
};

let owner: Tenant;
let stranger: Tenant;
const ownersIds = {} as Record<Target, string>;

beforeAll(async () => {
  owner = await createTenant();
  stranger = await createTenant();
  ownersIds.apiKey = (await owner.addKey({ name: 'the target' })).id;
  const device = await owner.api.POST('/v1/devices', { body: { name: 'the target', kind: 'iot' } });
  ownersIds.device = device.data?.id ?? '';
  const session = await owner.api.POST('/v1/sessions', { body: {} });
  ownersIds.session = session.data?.id ?? '';
  const endpoint = await owner.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/the-target' } });
  ownersIds.webhookEndpoint = endpoint.data?.id ?? '';
  const events = await owner.api.GET('/v1/events', { params: { query: { type: 'device.created' } } });
  ownersIds.event = events.data?.data[0]?.id ?? '';
  const signingKey = await owner.api.POST('/v1/signing-keys', { body: { name: 'the target', public_key: FIXTURE_PUBLIC_KEY } });
  ownersIds.signingKey = signingKey.data?.id ?? '';
  ownersIds.organizationExport = (await owner.api.POST('/v1/organization/exports')).data?.id ?? '';
});

function targetOf(operation: Operation): Target {
  return OPERATION_FIXTURES[operation.operationId]?.target ?? 'apiKey';
}

// Each request comes from its own client IP, so this suite's many deliberate failures never reach
// the per-IP failed-authentication limit (tested on its own in rate-limit.test.ts).
let requestCount = 0;
function nextClientIp(): string {
  requestCount += 1;
  return `10.${(requestCount >> 16) & 255}.${(requestCount >> 8) & 255}.${requestCount & 255}`;
}

function request(operation: Operation, authorization: string | undefined, id = ownersIds[targetOf(operation)]): Promise<Response> {
  const fixture = OPERATION_FIXTURES[operation.operationId] ?? {};
  const headers: Record<string, string> = {
    'CF-Connecting-IP': nextClientIp(),
    ...(authorization === undefined ? {} : { Authorization: authorization }),
  };
  if (fixture.body !== undefined) headers['Content-Type'] = 'application/json';
  return callWorker(operation.path.replace('{id}', id), {
    method: operation.method,
    headers,
    ...(fixture.body !== undefined ? { body: JSON.stringify(fixture.body) } : {}),
  });
}

function comparable(problem: { type: string; title: string; status: number; detail: string; code: string }) {
  return { type: problem.type, title: problem.title, status: problem.status, detail: problem.detail, code: problem.code };
}

it('covers every authenticated operation in the spec', () => {
  expect(operations.length).toBeGreaterThan(0);
  for (const operation of operations) {
    expect(OPERATION_FIXTURES, `add a fixture for ${operation.operationId}`).toHaveProperty(operation.operationId);
    expect(SCOPES).toContain(operation.scope);
  }
});

describe.each(operations)('$method $path', (operation) => {
  it('answers every bad credential with the same 401 and WWW-Authenticate', async () => {
    const unknown = (await generateApiKey('test')).secret;
    const valid = owner.key.secret;
    const badChecksum = valid.slice(0, -1) + (valid.endsWith('A') ? 'B' : 'A');
    const revoked = await owner.addKey({ revoked: true });
    const expired = await owner.addKey({ expiresInMs: -1000 });
    const cases: Array<[string, string | undefined]> = [
      ['no key', undefined],
      ['an empty header', ''],
      ['another scheme', `Basic ${btoa('user:pass')}`],
      ['a malformed key', 'Bearer not-a-key'],
      ['a bad checksum', `Bearer ${badChecksum}`],
      ['an unknown key', `Bearer ${unknown}`],
      ['a revoked key', `Bearer ${revoked.secret}`],
      ['an expired key', `Bearer ${expired.secret}`],
    ];
    const bodies = [];
    for (const [label, authorization] of cases) {
      const response = await request(operation, authorization);
      expect(response.headers.get('WWW-Authenticate'), label).toBe('Bearer realm="switchyard"');
      bodies.push(comparable(await expectProblem(response, 401, 'unauthorized')));
    }
    for (const body of bodies) expect(body).toEqual(bodies[0]);
  });

  it('refuses a key in the query string, even a valid one', async () => {
    const path = `${operation.path.replace('{id}', ownersIds[targetOf(operation)])}?api_key=${owner.key.secret}`;
    const response = await callWorker(path, { method: operation.method, headers: { 'CF-Connecting-IP': nextClientIp() } });
    await expectProblem(response, 401, 'unauthorized');
  });

  it(`refuses a key without its scope with 403 naming it`, async () => {
    const limited = await owner.addKey({ scopes: SCOPES.filter((scope) => scope !== operation.scope) });
    const response = await request(operation, `Bearer ${limited.secret}`);
    const problem = await expectProblem(response, 403, 'insufficient_scope');
    expect(problem.detail).toContain(operation.scope);
  });

  it.runIf(operation.path.includes('{id}'))(
    "answers another organisation's object exactly like a missing one, and leaves it untouched",
    async () => {
      const { table, missingId } = TARGETS[targetOf(operation)];
      const ownersId = ownersIds[targetOf(operation)];
      const read = () => env.DB.prepare(`SELECT * FROM ${table} WHERE id = ?1`).bind(ownersId).first();
      const before = await read();
      expect(before).not.toBeNull();
      const foreign = await request(operation, `Bearer ${stranger.key.secret}`);
      const missing = await request(operation, `Bearer ${stranger.key.secret}`, missingId);
      const foreignProblem = await expectProblem(foreign, 404, 'not_found');
      const missingProblem = await expectProblem(missing, 404, 'not_found');
      expect(foreignProblem.detail.replace(ownersId, '<id>')).toBe(missingProblem.detail.replace(missingId, '<id>'));
      expect([...foreign.headers.keys()].sort()).toEqual([...missing.headers.keys()].sort());
      expect(await read()).toEqual(before);
    },
  );
});

describe('listing never shows another organisation', () => {
  it('API keys, devices and audit events', async () => {
    await owner.api.POST('/v1/api-keys', { body: { name: 'audited', scopes: ['devices:read'] } });
    const keys = await stranger.api.GET('/v1/api-keys');
    expect(keys.data?.data.map((key) => key.id)).toEqual([stranger.key.id]);
    const devices = await stranger.api.GET('/v1/devices', { params: { query: { q: 'the target' } } });
    expect(devices.data?.data).toEqual([]);
    const sessions = await stranger.api.GET('/v1/sessions');
    expect(sessions.data?.data).toEqual([]);
    const events = await stranger.api.GET('/v1/audit-events');
    expect(events.data?.data).toEqual([]);
  });
});
