/**
 * createSwitchyardClient's ergonomics (generated/client.ts) against the real Worker (its `main`
 * module, real D1): automatic Idempotency-Keys, retries, timeouts, typed errors, pagination,
 * User-Agent and the debug hook. Faults are injected by `fetch` wrappers — test doubles for the
 * network, standing between the client and the Worker — which answer some attempts themselves
 * (a 429, a 503 in place of a reply that was lost, a hang, a refused connection) and pass the
 * others through to the Worker unchanged.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_VERSION,
  createSwitchyardClient,
  type ProblemCode,
  paginate,
  SwitchyardApiError,
  type SwitchyardClientOptions,
  SwitchyardConnectionError,
  type SwitchyardDebugEvent,
  SwitchyardTimeoutError,
  unwrap,
} from '../../generated/client.ts';
import spec from '../../openapi/openapi.json';
import { newId } from '../../src/lib/ids.ts';
import { requireSignedRequests } from '../helpers/signing.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { BASE_URL } from '../helpers/worker.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The Worker itself, as the client's fetch. */
const toWorker = (request: Request) => exports.default.fetch(request);

/** What the network double saw: each attempt's method, path and Idempotency-Key. */
interface Attempt {
  method: string;
  path: string;
  idempotencyKey: string | null;
  userAgent: string | null;
}

/**
 * A test double for the network: `answer` may reply to an attempt itself (by its index, 0 first)
 * or return undefined to pass it through to the Worker. Every attempt is recorded.
 */
function network(answer: (attempt: number, request: Request) => Promise<Response | undefined> | Response | undefined = () => undefined) {
  const attempts: Attempt[] = [];
  const fetch = async (request: Request) => {
    const index = attempts.length;
    attempts.push({
      method: request.method,
      path: new URL(request.url).pathname,
      idempotencyKey: request.headers.get('Idempotency-Key'),
      userAgent: request.headers.get('User-Agent'),
    });
    return (await answer(index, request)) ?? toWorker(request);
  };
  return { fetch, attempts };
}

/** The client under test, against the Worker through `fetch`; retries wait at most a few ms unless told otherwise. */
function client(tenant: Tenant, options: Partial<SwitchyardClientOptions> = {}) {
  return createSwitchyardClient({
    baseUrl: BASE_URL,
    apiKey: tenant.key.secret,
    fetch: toWorker,
    retry: { baseDelayMs: 2, maxDelayMs: 5 },
    ...options,
  });
}

function problemResponse(status: number, code: string, headers: Record<string, string> = {}): Response {
  return Response.json(
    { type: 'about:blank', title: code, status, code, request_id: 'req_network_double' },
    { status, headers: { 'Content-Type': 'application/problem+json', ...headers } },
  );
}

/** The tenant's devices named `name`, read straight from the Worker with a client of its own. */
async function devicesNamed(tenant: Tenant, name: string) {
  const page = unwrap(await client(tenant).GET('/v1/devices', { params: { query: { q: name, limit: 100 } } }));
  return page.data.filter((device) => device.name === name);
}

describe('Idempotency-Key', () => {
  it('is added to a POST and kept across retries: after two lost replies the third attempt replays the first answer', async () => {
    const tenant = await createTenant();
    // The first two attempts reach the Worker (the device is created on the first), but their
    // replies are lost on the way back: the client sees a 503 instead.
    const net = network(async (attempt, request) => {
      if (attempt >= 2) return undefined;
      await toWorker(request);
      return problemResponse(503, 'service_unavailable');
    });
    const api = client(tenant, { fetch: net.fetch });
    const name = `lost-reply-${crypto.randomUUID()}`;

    const { data, response } = await api.POST('/v1/devices', { body: { name, kind: 'iot' } });

    expect(response.status).toBe(201);
    expect(response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(net.attempts).toHaveLength(3);
    const [key] = net.attempts.map((attempt) => attempt.idempotencyKey);
    expect(key).toMatch(UUID);
    expect(net.attempts.every((attempt) => attempt.idempotencyKey === key)).toBe(true);
    const created = await devicesNamed(tenant, name);
    expect(created.map((device) => device.id)).toEqual([data?.id]);
  });

  it('is a new key for each call, and a key the caller sets is kept', async () => {
    const tenant = await createTenant();
    const net = network();
    const api = client(tenant, { fetch: net.fetch });
    const name = `own-key-${crypto.randomUUID()}`;
    const ownKey = `caller-${crypto.randomUUID()}`;

    const first = unwrap(await api.POST('/v1/devices', { body: { name, kind: 'phone' } }));
    const second = unwrap(await api.POST('/v1/devices', { body: { name, kind: 'phone' } }));
    const own = unwrap(await api.POST('/v1/devices', { body: { name, kind: 'phone' }, headers: { 'Idempotency-Key': ownKey } }));
    // The caller's key reached the Worker: the same request with it again replays the same device.
    const again = await api.POST('/v1/devices', { body: { name, kind: 'phone' }, params: { header: { 'Idempotency-Key': ownKey } } });

    expect(again.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect(again.data?.id).toBe(own.id);
    const keys = net.attempts.map((attempt) => attempt.idempotencyKey);
    expect(keys[0]).toMatch(UUID);
    expect(keys[1]).toMatch(UUID);
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys.slice(2)).toEqual([ownKey, ownKey]);
    expect(new Set((await devicesNamed(tenant, name)).map((device) => device.id))).toEqual(new Set([first.id, second.id, own.id]));
  });

  it('is added to PUT, PATCH and DELETE, not to GET', async () => {
    const tenant = await createTenant();
    const net = network();
    const api = client(tenant, { fetch: net.fetch });
    const device = unwrap(await api.POST('/v1/devices', { body: { name: 'Keyed', kind: 'server' } }));
    unwrap(await api.PATCH('/v1/devices/{id}', { params: { path: { id: device.id } }, body: { name: 'Keyed too' } }));
    unwrap(await api.GET('/v1/devices/{id}', { params: { path: { id: device.id } } }));
    unwrap(await api.DELETE('/v1/devices/{id}', { params: { path: { id: device.id } } }));
    unwrap(await api.PUT('/v1/organization/request-signing', { body: { required: false } }));

    expect(net.attempts.map((attempt) => [attempt.method, UUID.test(attempt.idempotencyKey ?? '')])).toEqual([
      ['POST', true],
      ['PATCH', true],
      ['GET', false],
      ['DELETE', true],
      ['PUT', true],
    ]);
  });
});

describe('signing', () => {
  it('signs every change, not reads, anew on each attempt: a lost reply is retried with a fresh nonce and replays the first answer', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const seen: Array<{ method: string; input: string | null; signature: string | null; digest: string | null }> = [];
    const net = network(async (attempt, request) => {
      seen.push({
        method: request.method,
        input: request.headers.get('Signature-Input'),
        signature: request.headers.get('Signature'),
        digest: request.headers.get('Content-Digest'),
      });
      // The first change reaches the Worker, but its reply is lost: the client sees a 503.
      if (attempt !== 0) return undefined;
      await toWorker(request);
      return problemResponse(503, 'service_unavailable');
    });
    // A JWK works as well as a CryptoKey: the client imports it once.
    const jwk = (await crypto.subtle.exportKey('jwk', signer.privateKey)) as JsonWebKey;
    const api = client(tenant, { fetch: net.fetch, signing: { keyId: signer.keyId, privateKey: jwk } });

    const created = await api.POST('/v1/api-keys', { body: { name: 'signed by the client', scopes: ['devices:read'] } });
    expect(created.response.status, JSON.stringify(created.error)).toBe(201);
    expect(created.response.headers.get('Idempotent-Replayed')).toBe('true');
    expect((await api.GET('/v1/api-keys')).response.status).toBe(200);

    expect(seen.map((attempt) => attempt.method)).toEqual(['POST', 'POST', 'GET']);
    const [first, retry, read] = seen;
    expect(first?.input).toMatch(
      new RegExp(
        `^sig1=\\("@method" "@target-uri" "content-digest"\\);created=\\d+;keyid="${signer.keyId}";nonce="[\\w-]{22}";alg="ed25519"$`,
      ),
    );
    expect(first?.digest).toMatch(/^sha-256=:[\w+/]+=:$/);
    expect(retry?.input).not.toBe(first?.input);
    expect(retry?.signature).not.toBe(first?.signature);
    expect(read).toEqual({ method: 'GET', input: null, signature: null, digest: null });
  });
});

describe('retries', () => {
  it('waits out a 429 Retry-After and then succeeds, creating the device once', async () => {
    const tenant = await createTenant();
    // A rate limiter on the way answers the first attempt; the Worker never sees it.
    const net = network((attempt) => (attempt === 0 ? problemResponse(429, 'rate_limited', { 'Retry-After': '1' }) : undefined));
    const events: SwitchyardDebugEvent[] = [];
    const api = client(tenant, { fetch: net.fetch, debug: (event) => events.push(event) });
    const name = `rate-limited-${crypto.randomUUID()}`;

    const startedAt = Date.now();
    const device = unwrap(await api.POST('/v1/devices', { body: { name, kind: 'browser' } }));
    const elapsedMs = Date.now() - startedAt;

    expect(elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(events.filter((event) => event.type === 'retry')).toMatchObject([{ delayMs: 1000, reason: 'status 429' }]);
    expect(net.attempts).toHaveLength(2);
    expect(net.attempts[1]?.idempotencyKey).toBe(net.attempts[0]?.idempotencyKey);
    expect((await devicesNamed(tenant, name)).map((each) => each.id)).toEqual([device.id]);
  });

  it('retries a network error on a GET and 409 idempotency_key_in_use on a POST', async () => {
    const tenant = await createTenant();
    const net = network((attempt) => {
      if (attempt === 0) throw new TypeError('connection reset (network double)');
      if (attempt === 2) return problemResponse(409, 'idempotency_key_in_use', { 'Retry-After': '0' });
      return undefined;
    });
    const api = client(tenant, { fetch: net.fetch });

    const page = await api.GET('/v1/devices');
    const created = await api.POST('/v1/devices', { body: { name: 'In use', kind: 'other' } });

    expect(page.response.status).toBe(200);
    expect(created.response.status).toBe(201);
    expect(net.attempts.map((attempt) => attempt.method)).toEqual(['GET', 'GET', 'POST', 'POST']);
  });

  it('does not retry a request that is not safe to repeat (a POST without a key), nor a final error', async () => {
    const tenant = await createTenant();
    const net = network((_attempt, request) => (request.method === 'POST' ? problemResponse(503, 'service_unavailable') : undefined));
    const api = client(tenant, { fetch: net.fetch, idempotencyKeys: false });

    const post = await api.POST('/v1/devices', { body: { name: 'Unkeyed', kind: 'other' } });
    const missing = await api.GET('/v1/devices/{id}', { params: { path: { id: newId('device') } } });

    expect(post.response.status).toBe(503);
    expect(missing.response.status).toBe(404);
    expect(net.attempts.map((attempt) => [attempt.method, attempt.idempotencyKey])).toEqual([
      ['POST', null],
      ['GET', null],
    ]);
  });

  it('stops after maxAttempts, with full-jitter backoff under a doubling bound', async () => {
    const tenant = await createTenant();
    const net = network(() => problemResponse(503, 'service_unavailable'));
    const delays: number[] = [];
    const api = client(tenant, {
      fetch: net.fetch,
      retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 },
      // Record the waits instead of waiting them.
      sleep: async (ms) => {
        delays.push(ms);
      },
    });

    const { response } = await api.GET('/v1/devices');

    expect(response.status).toBe(503);
    expect(net.attempts).toHaveLength(4);
    expect(delays).toHaveLength(3);
    const bounds = [100, 200, 250];
    delays.forEach((delay, index) => {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(bounds[index] ?? 0);
    });
  });
});

describe('timeouts and connection errors', () => {
  /** A network that never answers. */
  const hanging = () => new Promise<Response>(() => {});

  it('fails a call that outlives timeoutMs with SwitchyardTimeoutError', async () => {
    const tenant = await createTenant();
    const api = client(tenant, { fetch: hanging, timeoutMs: 50 });
    const startedAt = Date.now();
    const failure = await api.GET('/v1/devices').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SwitchyardTimeoutError);
    expect((failure as SwitchyardTimeoutError).timeoutMs).toBe(50);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  it('takes a per-call deadline from signal, within the default timeout', async () => {
    const tenant = await createTenant();
    const api = client(tenant, { fetch: hanging });
    const failure = await api.GET('/v1/devices', { signal: AbortSignal.timeout(50) }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SwitchyardTimeoutError);
  });

  it('surfaces a network failure, after its retries, as SwitchyardConnectionError', async () => {
    const tenant = await createTenant();
    const net = network(() => {
      throw new TypeError('connection refused (network double)');
    });
    const api = client(tenant, { fetch: net.fetch });
    const failure = await api.GET('/v1/devices').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SwitchyardConnectionError);
    expect((failure as Error).cause).toBeInstanceOf(TypeError);
    expect(net.attempts).toHaveLength(3);
  });
});

describe('unwrap', () => {
  it('throws a 404 as SwitchyardApiError with code not_found and the request id of the response', async () => {
    const tenant = await createTenant();
    const result = await client(tenant).GET('/v1/devices/{id}', { params: { path: { id: newId('device') } } });
    const failure = (() => {
      try {
        unwrap(result);
      } catch (error) {
        return error;
      }
    })();

    expect(failure).toBeInstanceOf(SwitchyardApiError);
    const error = failure as SwitchyardApiError;
    const code: ProblemCode | undefined = error.code;
    expect(code).toBe('not_found');
    expect(error.status).toBe(404);
    expect(error.requestId).toBeTruthy();
    expect(error.requestId).toBe(result.response.headers.get('X-Request-Id'));
    expect(error.problem).toMatchObject({ status: 404, code: 'not_found', request_id: error.requestId });
  });

  it('returns the data of a success', async () => {
    const tenant = await createTenant();
    const device = unwrap(await client(tenant).POST('/v1/devices', { body: { name: 'Unwrapped', kind: 'phone' } }));
    expect(device.id).toMatch(/^dev_/);
  });
});

describe('paginate', () => {
  it('yields every device across next_cursor pages, each once, in registration order', async () => {
    const tenant = await createTenant();
    const api = client(tenant);
    const created: Array<{ id: string; created_at: string }> = [];
    for (let batch = 0; batch < 10; batch += 1) {
      const devices = await Promise.all(
        Array.from({ length: 25 }, (_, index) => api.POST('/v1/devices', { body: { name: `Device ${batch * 25 + index}`, kind: 'iot' } })),
      );
      created.push(...devices.map((result) => unwrap(result)));
    }
    const pages: number[] = [];
    const net = network((_attempt, request) => {
      pages.push(Number(new URL(request.url).searchParams.get('limit')));
      return undefined;
    });

    const seen: string[] = [];
    for await (const device of paginate(client(tenant, { fetch: net.fetch }), '/v1/devices', { params: { query: { limit: 100 } } })) {
      seen.push(device.id);
    }

    // Registration order is created_at, then id: devices registered in the same instant (in one
    // parallel batch) come in id order.
    const expected = [...created]
      .sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1))
      .map((device) => device.id);
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    expect(seen).toEqual(expected);
    expect(pages).toEqual([100, 100, 100]);
  });
});

describe('User-Agent and the debug hook', () => {
  it('names the client and its version, as the Worker records it', async () => {
    expect(CLIENT_VERSION).toBe(spec.info.version);
    const tenant = await createTenant();
    const api = client(tenant);
    const device = unwrap(await api.POST('/v1/devices', { body: { name: 'Named', kind: 'browser' } }));

    const audit = unwrap(await api.GET('/v1/audit-events', { params: { query: { target_id: device.id, action: 'device.created' } } }));

    expect(audit.data.map((event) => event.user_agent)).toEqual([`switchyard-client/${CLIENT_VERSION}`]);
    // An app that names itself keeps its own User-Agent.
    const own = unwrap(
      await api.POST('/v1/devices', { body: { name: 'Own agent', kind: 'browser' }, headers: { 'User-Agent': 'my-app/2.0' } }),
    );
    const ownAudit = unwrap(await api.GET('/v1/audit-events', { params: { query: { target_id: own.id, action: 'device.created' } } }));
    expect(ownAudit.data.map((event) => event.user_agent)).toEqual(['my-app/2.0']);
  });

  it('reports each attempt, retry and response to debug', async () => {
    const tenant = await createTenant();
    const net = network((attempt) => (attempt === 0 ? problemResponse(503, 'service_unavailable') : undefined));
    const events: SwitchyardDebugEvent[] = [];
    const api = client(tenant, { fetch: net.fetch, debug: (event) => events.push(event) });

    const { response } = await api.GET('/v1/devices');

    expect(events.map((event) => `${event.type} ${event.attempt}`)).toEqual([
      'request 1',
      'response 1',
      'retry 1',
      'request 2',
      'response 2',
    ]);
    const [firstRequest] = events;
    expect(firstRequest?.type === 'request' && firstRequest.headers.get('X-Switchyard-Client')).toBe(`switchyard-client/${CLIENT_VERSION}`);
    expect(events.at(-1)).toMatchObject({ type: 'response', status: 200, requestId: response.headers.get('X-Request-Id') });
    expect(net.attempts.map((attempt) => attempt.userAgent)).toEqual([
      `switchyard-client/${CLIENT_VERSION}`,
      `switchyard-client/${CLIENT_VERSION}`,
    ]);
  });
});
