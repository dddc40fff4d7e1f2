/**
 * Function-level authorisation (OWASP API5): for every operation in the spec, what it returns or
 * acts on, and whether a caller may receive or act on something more privileged than itself. Each
 * operation needs a row in RULES, so a new operation fails here until someone decides its rule.
 *
 * - `key-scopes`: the operation makes, rotates or revokes a key; allowed only when every scope of
 *   that key is one the caller holds (caller scopes × target scopes → 2xx or 403), replays included.
 * - `participant`: the operation hands out a connect token for a participant; allowed only for a
 *   participant that may join the session now, replays included.
 * - `event-scopes`: the operation makes or changes a webhook endpoint; allowed only when the caller
 *   holds the read scope of every event type the endpoint receives (now, and after the change), replays included.
 * - `event-types`: the operation reads events; each event only with the scope that reads its
 *   object (EVENT_TYPE_SCOPES), beside the route's own `events:read`.
 * - `scope-only`: the route's own scope is the whole rule; the reason says why nothing it returns
 *   or touches is more privileged than that scope.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { EMITTED_EVENT_TYPES, type EmittedEventType } from '../../src/schemas/events.ts';
import { SCOPES, type Scope } from '../../src/schemas/scopes.ts';
import { EVENT_TYPE_SCOPES, WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../src/schemas/webhook-events.ts';
import { emitEveryEventType, eventsOf } from '../helpers/events.ts';
import { runExport } from '../helpers/exports.ts';
import { FIXTURE_PUBLIC_KEY, OPERATION_FIXTURES, operations, succeedingBody, type Target } from '../helpers/operations.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

type Rule =
  | { kind: 'key-scopes' }
  | { kind: 'participant' }
  | { kind: 'event-scopes' }
  | { kind: 'event-types' }
  | { kind: 'scope-only'; reason: string };

const RULES: Record<string, Rule> = {
  createApiKey: { kind: 'key-scopes' },
  rotateApiKey: { kind: 'key-scopes' },
  revokeApiKey: { kind: 'key-scopes' },
  createConnectToken: { kind: 'participant' },
  listApiKeys: { kind: 'scope-only', reason: 'key metadata only: a secret is shown once, at creation or rotation' },
  getApiKey: { kind: 'scope-only', reason: 'key metadata only: a secret is shown once, at creation or rotation' },
  getOrganization: { kind: 'scope-only', reason: 'its name, plan and default version: no credential, nothing of another organisation' },
  updateOrganization: { kind: 'scope-only', reason: 'organization:admin changes only the name and the default API version' },
  listAuditEvents: { kind: 'scope-only', reason: 'audit rows hold ids and hashes, never a secret or an IP' },
  listEvents: { kind: 'event-types' },
  getEvent: { kind: 'event-types' },
  createDevice: { kind: 'scope-only', reason: 'devices carry no credential' },
  listDevices: { kind: 'scope-only', reason: 'devices carry no credential' },
  getDevice: { kind: 'scope-only', reason: 'devices carry no credential' },
  updateDevice: { kind: 'scope-only', reason: 'devices carry no credential' },
  deleteDevice: { kind: 'scope-only', reason: 'devices carry no credential' },
  createSession: { kind: 'scope-only', reason: 'a session is admitted to only through connect tokens' },
  listSessions: { kind: 'scope-only', reason: 'sessions carry no credential' },
  getSession: { kind: 'scope-only', reason: 'sessions carry no credential' },
  endSession: { kind: 'scope-only', reason: 'ending needs sessions:write, the scope that opens sessions' },
  publishSessionMessage: { kind: 'scope-only', reason: 'publishing needs sessions:write, the scope that mints tokens' },
  listSessionParticipants: { kind: 'scope-only', reason: 'participant ids and ack positions, no tokens' },
  listSessionMessages: {
    kind: 'scope-only',
    reason: 'what the participants were sent, readable by the organisation that opened the session; no tokens',
  },
  createWebhookEndpoint: { kind: 'event-scopes' },
  updateWebhookEndpoint: { kind: 'event-scopes' },
  deleteWebhookEndpoint: { kind: 'event-scopes' },
  rotateWebhookEndpointSecret: { kind: 'event-scopes' },
  listWebhookEndpoints: { kind: 'scope-only', reason: 'URLs and event types, never a secret; no event is read through them' },
  getWebhookEndpoint: { kind: 'scope-only', reason: 'URL and event types, never a secret; no event is read through it' },
  listWebhookAttempts: { kind: 'scope-only', reason: "ids, statuses and timings of requests made, never an event's data" },
  resendWebhookEvent: { kind: 'event-scopes' },
  recoverWebhookDeliveries: { kind: 'event-scopes' },
  createOrganizationExport: {
    kind: 'scope-only',
    reason: "the archive holds the organisation's data, never a secret or hash; organization:export is a scope of its own for that reason",
  },
  listOrganizationExports: { kind: 'scope-only', reason: 'export status and counts only' },
  getOrganizationExport: { kind: 'scope-only', reason: 'export status and counts only' },
  getOrganizationExportArchive: { kind: 'scope-only', reason: 'the archive organization:export asked for, without secrets or hashes' },
  testWebhookEndpoint: {
    kind: 'scope-only',
    reason: 'the test event carries the endpoint itself (never its secret), which webhooks:admin reads anyway',
  },
  createSigningKey: { kind: 'scope-only', reason: 'a public key only: it grants nothing until a signature made with it verifies' },
  listSigningKeys: { kind: 'scope-only', reason: 'public keys only' },
  getSigningKey: { kind: 'scope-only', reason: 'a public key only' },
  revokeSigningKey: {
    kind: 'scope-only',
    reason: 'organization:admin governs request signing whole; the last key is kept while it is required',
  },
  getRequestSigning: { kind: 'scope-only', reason: 'one flag' },
  updateRequestSigning: { kind: 'scope-only', reason: 'organization:admin governs request signing; turning it on or off is itself signed' },
  eraseOrganization: { kind: 'scope-only', reason: 'it acts on the caller’s own organisation only, and answers its tombstone' },
};

const CALLERS: Record<string, readonly Scope[]> = {
  'keys:admin only': ['keys:admin'],
  'keys:admin + devices:read': ['keys:admin', 'devices:read'],
  'every scope': SCOPES,
};
const TARGETS: Record<string, readonly Scope[]> = {
  'devices:read': ['devices:read'],
  'keys:admin + audit:read + devices:write': ['keys:admin', 'audit:read', 'devices:write'],
  'every scope': SCOPES,
};
const within = (target: readonly Scope[], caller: readonly Scope[]) => target.every((scope) => caller.includes(scope));

function send(secret: string, method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<Response> {
  return callWorker(path, {
    method,
    headers: {
      Authorization: `Bearer ${secret}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function keyRow(id: string) {
  return env.DB.prepare('SELECT scopes, revoked_at, rotated_to FROM api_keys WHERE id = ?1')
    .bind(id)
    .first<{ scopes: string; revoked_at: string | null; rotated_to: string | null }>();
}

it('has a rule for every authenticated operation in the spec', () => {
  expect(operations.length).toBeGreaterThan(0);
  for (const operation of operations)
    expect(RULES, `decide the authorisation rule of ${operation.operationId}`).toHaveProperty(operation.operationId);
  for (const rule of Object.values(RULES)) if (rule.kind === 'scope-only') expect(rule.reason).not.toBe('');
});

const keyScopeOperations = operations.filter((operation) => RULES[operation.operationId]?.kind === 'key-scopes');
const combinations = Object.entries(CALLERS).flatMap(([callerLabel, callerScopes]) =>
  Object.entries(TARGETS).map(([targetLabel, targetScopes]) => ({ callerLabel, callerScopes, targetLabel, targetScopes })),
);

describe.each(keyScopeOperations)('$operationId: a caller acts only on keys within its own scopes', (operation) => {
  it.each(combinations)('caller $callerLabel × key $targetLabel', async ({ callerScopes, targetScopes }) => {
    const tenant = await createTenant();
    const caller = await tenant.addKey({ scopes: callerScopes });
    const allowed = within(targetScopes, callerScopes);
    const name = `target-${crypto.randomUUID()}`;
    let response: Response;
    let targetId: string | undefined;
    if (operation.operationId === 'createApiKey') {
      response = await send(caller.secret, 'POST', '/v1/api-keys', { name, scopes: targetScopes });
    } else {
      targetId = (await tenant.addKey({ scopes: targetScopes, name })).id;
      const path = operation.path.replace('{id}', targetId);
      response = await send(caller.secret, operation.method, path, OPERATION_FIXTURES[operation.operationId]?.body);
    }
    if (allowed) {
      expect(response.status, await response.clone().text()).toBeLessThan(300);
      return;
    }
    const problem = await expectProblem(response, 403, 'insufficient_scope');
    expect(problem.detail).toMatch(/scopes it does not hold/);
    // Refused means untouched: no key made, none rotated or revoked.
    if (targetId === undefined) {
      const made = await env.DB.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE name = ?1').bind(name).first<{ n: number }>();
      expect(made?.n).toBe(0);
    } else {
      expect(await keyRow(targetId)).toMatchObject({ revoked_at: null, rotated_to: null });
    }
  });
});

describe('a replay never hands a response to a caller that may not have it', () => {
  let tenant: Tenant;
  beforeAll(async () => {
    tenant = await createTenant();
  });

  it('a narrower key replaying a wide key creation gets 403, not the secret', async () => {
    const body = { name: 'wide', scopes: SCOPES };
    const first = await send(tenant.key.secret, 'POST', '/v1/api-keys', body, 'wide-create');
    expect(first.status).toBe(201);
    const narrow = await tenant.addKey({ scopes: ['keys:admin'] });
    const replay = await send(narrow.secret, 'POST', '/v1/api-keys', body, 'wide-create');
    const text = await replay.clone().text();
    await expectProblem(replay, 403, 'insufficient_scope');
    expect(text).not.toContain('sy_test_');
    expect(replay.headers.get('Idempotent-Replayed')).toBeNull();
  });

  it('another key with every scope replaying it gets 422: a record answers only the key that made it', async () => {
    const body = { name: 'bound', scopes: ['devices:read'] };
    const first = await send(tenant.key.secret, 'POST', '/v1/api-keys', body, 'bound-create');
    expect(first.status).toBe(201);
    const sibling = await tenant.addKey({ scopes: SCOPES });
    const replay = await send(sibling.secret, 'POST', '/v1/api-keys', body, 'bound-create');
    const text = await replay.clone().text();
    const problem = await expectProblem(replay, 422, 'idempotency_key_reused');
    expect(problem.detail).toMatch(/different API key/);
    expect(text).not.toContain('sy_test_');
    // The key that made it still gets its replay.
    const own = await send(tenant.key.secret, 'POST', '/v1/api-keys', body, 'bound-create');
    expect(own.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await own.text()).toBe(await first.text());
  });

  it('a narrower key replaying the rotation of a wide key gets 403, not the new secret', async () => {
    const wide = await tenant.addKey({ scopes: SCOPES });
    const first = await send(tenant.key.secret, 'POST', `/v1/api-keys/${wide.id}/rotate`, { grace_period_seconds: 60 }, 'wide-rotate');
    expect(first.status).toBe(201);
    const narrow = await tenant.addKey({ scopes: ['keys:admin'] });
    const replay = await send(narrow.secret, 'POST', `/v1/api-keys/${wide.id}/rotate`, { grace_period_seconds: 60 }, 'wide-rotate');
    const text = await replay.clone().text();
    await expectProblem(replay, 403, 'insufficient_scope');
    expect(text).not.toContain('sy_test_');
  });
});

const EVENT_CALLERS: Record<string, readonly Scope[]> = {
  'webhooks:admin only': ['webhooks:admin'],
  'webhooks:admin + devices:read': ['webhooks:admin', 'devices:read'],
  'every scope': SCOPES,
};
const ENDPOINT_EVENTS: Record<string, WebhookEventType[] | null> = {
  'webhook_endpoint.disabled': ['webhook_endpoint.disabled'],
  'device.created': ['device.created'],
  'session.ended + api_key.revoked': ['session.ended', 'api_key.revoked'],
  'every type (null)': null,
};
const eventScopesOf = (types: readonly WebhookEventType[] | null) => (types ?? WEBHOOK_EVENT_TYPES).map((type) => EVENT_TYPE_SCOPES[type]);
const eventCombinations = Object.entries(EVENT_CALLERS).flatMap(([callerLabel, callerScopes]) =>
  Object.entries(ENDPOINT_EVENTS).map(([eventsLabel, eventTypes]) => ({ callerLabel, callerScopes, eventsLabel, eventTypes })),
);

async function endpointRow(id: string) {
  return env.DB.prepare('SELECT url, description, version, secret_sealed FROM webhook_endpoints WHERE id = ?1').bind(id).first();
}

describe.each(operations.filter((operation) => RULES[operation.operationId]?.kind === 'event-scopes'))(
  '$operationId: a caller acts only on endpoints whose events it may read',
  (operation) => {
    it.each(eventCombinations)('caller $callerLabel × endpoint receiving $eventsLabel', async ({ callerScopes, eventTypes }) => {
      const tenant = await createTenant();
      const caller = await tenant.addKey({ scopes: callerScopes });
      const allowed = within(eventScopesOf(eventTypes), callerScopes);
      const description = `target-${crypto.randomUUID()}`;
      let response: Response;
      let targetId: string | undefined;
      if (operation.operationId === 'createWebhookEndpoint') {
        const body = { url: 'https://hooks.example.com/in', description, event_types: eventTypes };
        response = await send(caller.secret, 'POST', '/v1/webhook-endpoints', body);
      } else {
        const made = await tenant.api.POST('/v1/webhook-endpoints', {
          body: { url: 'https://hooks.example.com/in', description, event_types: eventTypes },
        });
        targetId = made.data?.id ?? '';
        const path = operation.path.replace('{id}', targetId);
        response = await send(caller.secret, operation.method, path, await succeedingBody(tenant, operation.operationId, targetId));
      }
      if (allowed) {
        expect(response.status, await response.clone().text()).toBeLessThan(300);
        return;
      }
      const text = await response.clone().text();
      const problem = await expectProblem(response, 403, 'insufficient_scope');
      expect(problem.detail).toMatch(/events it may not read itself/);
      for (const scope of eventScopesOf(eventTypes).filter((scope) => !callerScopes.includes(scope))) {
        expect(problem.detail).toContain(scope);
      }
      expect(text).not.toContain('whsec_');
      // Refused means untouched: no endpoint made, none changed, rotated or deleted.
      if (targetId === undefined) {
        const made = await env.DB.prepare('SELECT COUNT(*) AS n FROM webhook_endpoints WHERE description = ?1')
          .bind(description)
          .first<{ n: number }>();
        expect(made?.n).toBe(0);
      } else {
        expect(await endpointRow(targetId)).toMatchObject({ description, version: 1 });
      }
    });
  },
);

describe('an endpoint is never widened past the caller', () => {
  it('a webhooks:admin key cannot subscribe an endpoint it may change to device events', async () => {
    const tenant = await createTenant();
    const narrow = await tenant.addKey({ scopes: ['webhooks:admin'] });
    const made = await send(narrow.secret, 'POST', '/v1/webhook-endpoints', {
      url: 'https://hooks.example.com/in',
      event_types: ['webhook_endpoint.disabled'],
    });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    const widened = await send(narrow.secret, 'PATCH', `/v1/webhook-endpoints/${id}`, { event_types: ['device.created'] });
    const problem = await expectProblem(widened, 403, 'insufficient_scope');
    expect(problem.detail).toContain('devices:read');
    const everything = await send(narrow.secret, 'PATCH', `/v1/webhook-endpoints/${id}`, { event_types: null });
    expect((await expectProblem(everything, 403, 'insufficient_scope')).detail).toMatch(/receives every type/);
    expect(await endpointRow(id)).toMatchObject({ version: 1 });
  });

  it('a narrower key replaying a wide key’s rotation gets 403, not the new secret', async () => {
    const tenant = await createTenant();
    const made = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/in' } });
    const id = made.data?.id ?? '';
    const first = await send(tenant.key.secret, 'POST', `/v1/webhook-endpoints/${id}/rotate-secret`, undefined, 'wide-rotate');
    expect(first.status).toBe(200);
    const narrow = await tenant.addKey({ scopes: ['webhooks:admin'] });
    const replay = await send(narrow.secret, 'POST', `/v1/webhook-endpoints/${id}/rotate-secret`, undefined, 'wide-rotate');
    const text = await replay.clone().text();
    await expectProblem(replay, 403, 'insufficient_scope');
    expect(text).not.toContain('whsec_');
  });
});

describe('keys never outlive the key that creates them', () => {
  it('an expiring key may create keys that expire no later than itself, and no others', async () => {
    const tenant = await createTenant();
    const expiring = await tenant.addKey({ expiresInMs: 3_600_000 });
    const forever = await send(expiring.secret, 'POST', '/v1/api-keys', { name: 'forever', scopes: ['devices:read'] });
    const problem = await expectProblem(forever, 403, 'key_outlives_caller');
    expect(problem.detail).toMatch(/must expire by then/);
    const longer = await send(expiring.secret, 'POST', '/v1/api-keys', {
      name: 'longer',
      scopes: ['devices:read'],
      expires_in_seconds: 7200,
    });
    await expectProblem(longer, 403, 'key_outlives_caller');
    const shorter = await send(expiring.secret, 'POST', '/v1/api-keys', {
      name: 'shorter',
      scopes: ['devices:read'],
      expires_in_seconds: 1800,
    });
    expect(shorter.status).toBe(201);
  });
});

describe('createConnectToken: only for a participant that may join now', () => {
  let tenant: Tenant;
  const devices = {} as Record<'active' | 'disabled' | 'offList', string>;
  let openSession: string;
  let listedSession: string;

  beforeAll(async () => {
    tenant = await createTenant();
    for (const label of ['active', 'disabled', 'offList'] as const) {
      const { data } = await tenant.api.POST('/v1/devices', { body: { name: label, kind: 'iot' } });
      devices[label] = data?.id ?? '';
    }
    await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: devices.disabled } }, body: { status: 'disabled' } });
    openSession = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
    listedSession =
      (await tenant.api.POST('/v1/sessions', { body: { allowed_device_ids: [devices.active, devices.disabled] } })).data?.id ?? '';
  });

  const cases: Array<[string, () => [string, string], boolean]> = [
    ['an active device, open session', () => [openSession, devices.active], true],
    ['an active device on the allow-list', () => [listedSession, devices.active], true],
    ['a client label, open session', () => [openSession, 'client:agent'], true],
    ['a disabled device', () => [openSession, devices.disabled], false],
    ['a disabled device on the allow-list', () => [listedSession, devices.disabled], false],
    ['a device off the allow-list', () => [listedSession, devices.offList], false],
    ['a client label on an allow-listed session', () => [listedSession, 'client:agent'], false],
    ['a device of no organisation', () => [openSession, `dev_${'0'.repeat(22)}`], false],
  ];
  it.each(cases)('%s', async (_, which, allowed) => {
    const [session, participant] = which();
    const response = await send(tenant.key.secret, 'POST', `/v1/sessions/${session}/tokens`, { participant });
    if (allowed) expect(response.status).toBe(201);
    else await expectProblem(response, 403, 'participant_not_allowed');
  });

  it('a replay after the device was disabled is refused, not the old token', async () => {
    const { data } = await tenant.api.POST('/v1/devices', { body: { name: 'soon disabled', kind: 'iot' } });
    const device = data?.id ?? '';
    const body = { participant: device };
    const first = await send(tenant.key.secret, 'POST', `/v1/sessions/${openSession}/tokens`, body, 'mint-then-disable');
    expect(first.status).toBe(201);
    await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id: device } }, body: { status: 'disabled' } });
    const replay = await send(tenant.key.secret, 'POST', `/v1/sessions/${openSession}/tokens`, body, 'mint-then-disable');
    const text = await replay.clone().text();
    await expectProblem(replay, 403, 'participant_not_allowed');
    expect(text).not.toMatch(/eyJ/);
  });
});

const EVENT_READERS: Record<string, readonly Scope[]> = {
  'events:read only': ['events:read'],
  'events:read + devices:read': ['events:read', 'devices:read'],
  'events:read + sessions:read + keys:admin': ['events:read', 'sessions:read', 'keys:admin'],
  'every scope': SCOPES,
};

describe.each(operations.filter((operation) => RULES[operation.operationId]?.kind === 'event-types'))(
  '$operationId: a key reads only the events whose objects it may read',
  (operation) => {
    let tenant: Tenant;
    let eventIds: Record<EmittedEventType, string>;
    beforeAll(async () => {
      tenant = await createTenant();
      eventIds = await emitEveryEventType(tenant);
    });

    it.each(Object.entries(EVENT_READERS))('caller %s', async (_label, scopes) => {
      const caller = await tenant.addKey({ scopes });
      const readable = EMITTED_EVENT_TYPES.filter((type) => scopes.includes(EVENT_TYPE_SCOPES[type]));
      if (operation.operationId === 'listEvents') {
        const all = await send(caller.secret, 'GET', '/v1/events?limit=100');
        expect(all.status).toBe(200);
        const listed = ((await all.json()) as { data: Array<{ type: EmittedEventType }> }).data.map((event) => event.type);
        expect(listed.sort()).toEqual([...readable].sort());
      }
      for (const type of EMITTED_EVENT_TYPES) {
        const path = operation.operationId === 'listEvents' ? `/v1/events?type=${type}` : `/v1/events/${eventIds[type]}`;
        const response = await send(caller.secret, 'GET', path);
        if (readable.includes(type)) expect(response.status, `${type}: ${await response.clone().text()}`).toBe(200);
        else expect((await expectProblem(response, 403, 'insufficient_scope')).detail).toContain(EVENT_TYPE_SCOPES[type]);
      }
    });
  },
);

describe.each(operations.filter((operation) => RULES[operation.operationId]?.kind === 'scope-only'))(
  '$operationId: its scope alone is enough',
  (operation) => {
    it('a key holding only that scope is not refused', async () => {
      const tenant = await createTenant();
      // Made only for the operation that needs it: an export takes its Workflow's whole run.
      const targets: Record<Target, () => Promise<string>> = {
        apiKey: async () => (await tenant.addKey({ scopes: SCOPES })).id,
        device: async () => (await tenant.api.POST('/v1/devices', { body: { name: 'target', kind: 'iot' } })).data?.id ?? '',
        session: async () => (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '',
        webhookEndpoint: async () =>
          (await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/target' } })).data?.id ?? '',
        event: async () => {
          await tenant.api.POST('/v1/devices', { body: { name: 'target', kind: 'iot' } });
          return (await eventsOf(tenant))[0]?.id ?? '';
        },
        organizationExport: async () => (await runExport(tenant)).id,
        signingKey: async () =>
          (await tenant.api.POST('/v1/signing-keys', { body: { name: 'target', public_key: FIXTURE_PUBLIC_KEY } })).data?.id ?? '',
      };
      const fixture = OPERATION_FIXTURES[operation.operationId] ?? {};
      const caller = await tenant.addKey({ scopes: [operation.scope] });
      const target = await targets[fixture.target ?? 'apiKey']();
      const path = operation.path.replace('{id}', target);
      const response = await send(caller.secret, operation.method, path, await succeedingBody(tenant, operation.operationId, target));
      expect(response.status, await response.clone().text()).toBeLessThan(300);
    });
  },
);
