/**
 * D1 read replication through the Sessions API (src/middleware/d1-session.ts): each request's D1 is
 * a session, started `first-primary` for a change and from the client's `Switchyard-Bookmark` (or
 * `first-unconstrained`) for a read; responses carry the session's latest bookmark, signed; a
 * bookmark the API did not sign, or one D1 refuses, is a 400 `invalid_bookmark` before anything runs.
 *
 * What these tests cannot prove: the local D1 (workerd's SQLite object) has no replicas, so every
 * query here is served by the one database, up to date, whatever the session's constraint or
 * bookmark. Replica lag, and that a bookmark makes a lagging replica wait for (or hand over to) a
 * fresher copy, are D1's guarantees in production, not shown by any test here: a read "seeing the
 * write" below would pass without the bookmark too. What is proved is everything the Worker does:
 * which constraint or bookmark each request's session starts from (recorded on the binding), that
 * the bookmark returned is the one the session reached and round-trips, and every refusal.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import spec from '../../openapi/openapi.json';
import { D1_BREAKER } from '../../src/db/guarded-d1.ts';
import { bookmarkKeyring, signBookmark } from '../../src/lib/bookmark-token.ts';
import { BOOKMARK_HEADER } from '../../src/schemas/responses.ts';
import { faultyD1 } from '../helpers/faults.ts';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

const TOKEN = /^[0-9A-Za-z-]{1,128}\.[A-Za-z0-9_-]{43}$/;
/** What D1 bookmarks look like, locally as in production: `00000000-00000012-00000000-0000…`. */
const D1_BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

function bookmarkOf(response: Response): string {
  const token = response.headers.get(BOOKMARK_HEADER);
  if (token === null) throw new Error(`${response.status} without ${BOOKMARK_HEADER}`);
  return token;
}

function authorized(tenant: Tenant, headers: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${tenant.key.secret}`, ...headers };
}

function createDevice(tenant: Tenant, name: string, headers: Record<string, string> = {}, overrides: Record<string, unknown> = {}) {
  return callWorker(
    '/v1/devices',
    {
      method: 'POST',
      headers: authorized(tenant, { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID(), ...headers }),
      body: JSON.stringify({ name, kind: 'iot' }),
    },
    overrides,
  );
}

async function devicesNamed(tenant: Tenant, name: string): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM devices WHERE org_id = ?1 AND name = ?2')
    .bind(tenant.orgId, name)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** The real binding, recording what each session it is asked for starts from. */
function recordingD1() {
  const starts: Array<string | undefined> = [];
  const db = {
    prepare: (sql: string) => env.DB.prepare(sql),
    batch: (statements: D1PreparedStatement[]) => env.DB.batch(statements),
    withSession: (start?: string) => {
      starts.push(start);
      return env.DB.withSession(start);
    },
  };
  // The members of D1Database the Worker uses.
  return { db: db as unknown as D1Database, starts };
}

/**
 * The real binding, except that a session started from a bookmark fails every query as D1 would
 * refuse the bookmark (D1 documents no message for it: workerd's own check says D1_SESSION_ERROR).
 */
function bookmarkRefusingD1(): D1Database {
  const refusal = () => Promise.reject(new Error('D1_SESSION_ERROR: invalid bookmark'));
  const refused: D1PreparedStatement = {
    bind: () => refused,
    first: refusal,
    all: refusal,
    run: refusal,
    raw: refusal,
  } as unknown as D1PreparedStatement;
  const db = {
    prepare: (sql: string) => env.DB.prepare(sql),
    batch: (statements: D1PreparedStatement[]) => env.DB.batch(statements),
    withSession: (start: string) =>
      start === 'first-primary' || start === 'first-unconstrained'
        ? env.DB.withSession(start)
        : { prepare: () => refused, batch: refusal, getBookmark: () => start },
  };
  // The members of D1Database the Worker uses.
  return db as unknown as D1Database;
}

describe('the Switchyard-Bookmark response header', () => {
  it('is on every response of a request that queried D1, success or problem, and is a signed D1 bookmark', async () => {
    const tenant = await createTenant();
    const created = await createDevice(tenant, 'bookmarked');
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const read = await callWorker(`/v1/devices/${id}`, { headers: authorized(tenant) });
    const missing = await callWorker('/v1/devices/dev_0000000000000000000000', { headers: authorized(tenant) });
    const invalid = await callWorker('/v1/devices?limit=1000', { headers: authorized(tenant) });
    expect([read.status, missing.status, invalid.status]).toEqual([200, 404, 400]);
    for (const response of [created, read, missing]) {
      const token = bookmarkOf(response);
      expect(token).toMatch(TOKEN);
      expect(token.slice(0, token.lastIndexOf('.'))).toMatch(D1_BOOKMARK);
    }
    // Refused by validation after the key lookup: whether it carries one depends on whether this
    // isolate had the key cached (no query, no bookmark); when it does, it is well formed.
    const afterValidation = invalid.headers.get(BOOKMARK_HEADER);
    if (afterValidation !== null) expect(afterValidation).toMatch(TOKEN);
  });

  it('is absent where D1 is not queried, and on /ready, which probes the primary outside the session', async () => {
    const health = await callWorker('/health');
    const ready = await callWorker('/ready');
    expect([health.status, ready.status]).toEqual([200, 200]);
    expect(health.headers.has(BOOKMARK_HEADER)).toBe(false);
    expect(ready.headers.has(BOOKMARK_HEADER)).toBe(false);
  });

  it('is readable by a browser app on an allowed origin, which may send it back', async () => {
    const preflight = await callWorker(
      '/v1/devices',
      {
        method: 'OPTIONS',
        headers: {
          Origin: 'http://localhost:5173',
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': BOOKMARK_HEADER,
        },
      },
      { CORS_ORIGINS: 'http://localhost:5173' },
    );
    expect(preflight.headers.get('Access-Control-Allow-Headers')?.toLowerCase()).toContain(BOOKMARK_HEADER.toLowerCase());
    const tenant = await createTenant();
    const read = await callWorker(
      '/v1/devices',
      { headers: authorized(tenant, { Origin: 'http://localhost:5173' }) },
      { CORS_ORIGINS: 'http://localhost:5173' },
    );
    expect(read.headers.get('Access-Control-Expose-Headers')).toContain(BOOKMARK_HEADER);
  });
});

describe('a request with a bookmark', () => {
  it('reads a write made just before, from the bookmark the write answered with (locally no replica could lag)', async () => {
    const tenant = await createTenant();
    const created = await createDevice(tenant, 'read-your-writes');
    const { id } = (await created.json()) as { id: string };
    const written = bookmarkOf(created);

    const read = await callWorker(`/v1/devices/${id}`, { headers: authorized(tenant, { [BOOKMARK_HEADER]: written }) });

    expect(read.status).toBe(200);
    expect(((await read.json()) as { id: string }).id).toBe(id);
    // The session started at the write's bookmark and went on from there: never back before it.
    expect(bookmarkOf(read) >= written).toBe(true);
  });

  it('starts a read session from it, and without one from first-unconstrained; a change always starts first-primary', async () => {
    const tenant = await createTenant();
    const created = await createDevice(tenant, 'constraints');
    const { id } = (await created.json()) as { id: string };
    const token = bookmarkOf(created);
    const recording = recordingD1();
    const overrides = { DB: recording.db };

    const plainRead = await callWorker(`/v1/devices/${id}`, { headers: authorized(tenant) }, overrides);
    const bookmarkedRead = await callWorker(`/v1/devices/${id}`, { headers: authorized(tenant, { [BOOKMARK_HEADER]: token }) }, overrides);
    const plainWrite = await createDevice(tenant, 'constraints-2', {}, overrides);
    const bookmarkedWrite = await createDevice(tenant, 'constraints-3', { [BOOKMARK_HEADER]: token }, overrides);

    expect([plainRead.status, bookmarkedRead.status, plainWrite.status, bookmarkedWrite.status]).toEqual([200, 200, 201, 201]);
    expect(recording.starts).toEqual(['first-unconstrained', token.slice(0, token.lastIndexOf('.')), 'first-primary', 'first-primary']);
  });

  it('signed under a previous storage secret still listed is accepted, so a rotation refuses none in use', async () => {
    const tenant = await createTenant();
    const created = await createDevice(tenant, 'rotated');
    const token = bookmarkOf(created);
    const rotated = {
      STORAGE_ENCRYPTION_SECRET: 'rotated-storage-secret-for-the-bookmark-test-0123456789',
      STORAGE_ENCRYPTION_PREVIOUS_SECRETS: env.STORAGE_ENCRYPTION_SECRET,
    };
    const read = await callWorker('/v1/devices', { headers: authorized(tenant, { [BOOKMARK_HEADER]: token }) }, rotated);
    expect(read.status).toBe(200);
    // Re-signed under the current secret: the same bookmark (or a later one), another MAC.
    expect(bookmarkOf(read)).not.toBe(token);
    const dropped = await callWorker(
      '/v1/devices',
      { headers: authorized(tenant, { [BOOKMARK_HEADER]: token }) },
      { ...rotated, STORAGE_ENCRYPTION_PREVIOUS_SECRETS: '' },
    );
    await expectProblem(dropped, 400, 'invalid_bookmark');
  });
});

describe('a bookmark the API did not issue', () => {
  const issuedElsewhere = async (bookmark: string) =>
    (await signBookmark(await bookmarkKeyring('another-deployment-storage-secret-0123456789abcdef', []), bookmark)) ?? '';

  it.each([
    ['empty', async () => ''],
    ['garbage', async () => 'not a bookmark'],
    ['a raw D1 bookmark, unsigned', async () => '00000000-00000011-00000000-00000000000000000000000000000000'],
    [
      'a bookmark far ahead of the database, with a made-up MAC',
      async () => `ffffffff-ffffffff-ffffffff-${'f'.repeat(32)}.${'A'.repeat(43)}`,
    ],
    ['signed by another deployment', () => issuedElsewhere('00000000-00000011-00000000-00000000000000000000000000000000')],
    ['over the length limit', async () => `${'0'.repeat(129)}.${'A'.repeat(43)}`],
    ['with a tab in it', async () => '0000\t.AAAA'],
  ])('is refused when %s: 400 invalid_bookmark, and nothing is done, not even a D1 read', async (_label, make) => {
    const tenant = await createTenant();
    const faulty = faultyD1({ kind: 'fail', message: 'never reached' }, () => false);
    const name = `refused-${crypto.randomUUID()}`;

    const response = await createDevice(tenant, name, { [BOOKMARK_HEADER]: await make() }, { DB: faulty.db });

    await expectProblem(response, 400, 'invalid_bookmark');
    expect(response.headers.has(BOOKMARK_HEADER)).toBe(false);
    expect(faulty.calls).toEqual([]);
    expect(await devicesNamed(tenant, name)).toBe(0);
  });

  it('is refused once altered: its bookmark moved on, or its MAC changed', async () => {
    const tenant = await createTenant();
    const token = bookmarkOf(await createDevice(tenant, 'altered'));
    const separator = token.lastIndexOf('.');
    const bookmark = token.slice(0, separator);
    const mac = token.slice(separator + 1);
    const later = `${bookmark.slice(0, -1)}${bookmark.endsWith('f') ? 'e' : 'f'}`;
    const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    for (const altered of [`${later}.${mac}`, `${bookmark}.${flipped}`]) {
      await expectProblem(
        await callWorker('/v1/devices', { headers: authorized(tenant, { [BOOKMARK_HEADER]: altered }) }),
        400,
        'invalid_bookmark',
      );
    }
  });
});

describe('a bookmark D1 refuses', () => {
  it('is a 400 invalid_bookmark, not a 500, and does not count against the breaker every request shares', async () => {
    const tenant = await createTenant();
    const created = await createDevice(tenant, 'refused-by-d1');
    const { id } = (await created.json()) as { id: string };
    const token = bookmarkOf(created);
    const refusing = bookmarkRefusingD1();

    for (let attempt = 0; attempt <= D1_BREAKER.failureThreshold; attempt += 1) {
      const response = await callWorker(
        `/v1/devices/${id}`,
        { headers: authorized(tenant, { [BOOKMARK_HEADER]: token }) },
        { DB: refusing },
      );
      await expectProblem(response, 400, 'invalid_bookmark');
    }
    // The same binding, without the bookmark: its breaker is still closed.
    const read = await callWorker(`/v1/devices/${id}`, { headers: authorized(tenant) }, { DB: refusing });
    expect(read.status).toBe(200);
  });
});

describe('a change without a bookmark', () => {
  it('is served as before, from first-primary, and answers with the bookmark it reached', async () => {
    const tenant = await createTenant();
    const recording = recordingD1();
    const name = `plain-write-${crypto.randomUUID()}`;
    const response = await createDevice(tenant, name, {}, { DB: recording.db });
    expect(response.status).toBe(201);
    expect(recording.starts).toEqual(['first-primary']);
    expect(bookmarkOf(response)).toMatch(TOKEN);
    expect(await devicesNamed(tenant, name)).toBe(1);
  });
});

/**
 * The real binding, whose sessions answer as a replica that has not yet received any API key would:
 * no row for a query of api_keys. The binding itself (the primary) answers as it is.
 */
function replicaWithoutKeysD1(): D1Database {
  const noRows = {
    bind: () => noRows,
    first: () => Promise.resolve(null),
    all: () => Promise.resolve({ results: [], success: true, meta: {} }),
    run: () => Promise.resolve({ results: [], success: true, meta: {} }),
    raw: () => Promise.resolve([]),
  };
  const db = {
    prepare: (sql: string) => env.DB.prepare(sql),
    batch: (statements: D1PreparedStatement[]) => env.DB.batch(statements),
    withSession: (start?: string) => {
      const session = env.DB.withSession(start);
      return {
        prepare: (sql: string) => (/^\s*SELECT\b[\s\S]*\bapi_keys\b/i.test(sql) ? noRows : session.prepare(sql)),
        batch: (statements: D1PreparedStatement[]) => session.batch(statements),
        getBookmark: () => session.getBookmark(),
      };
    },
  };
  // The members of D1Database the Worker uses.
  return db as unknown as D1Database;
}

describe('API keys', () => {
  it('are read from the primary, not the read session: a key a replica has not received yet works at once', async () => {
    // A key this isolate has never seen, so its lookup is a cache miss that reads the database.
    const tenant = await createTenant();
    const response = await callWorker('/v1/devices', { headers: authorized(tenant) }, { DB: replicaWithoutKeysD1() });
    expect(response.status).toBe(200);
  });

  it('would be refused if the lookup read that replica (the check above can fail)', async () => {
    const tenant = await createTenant();
    const replica = replicaWithoutKeysD1().withSession('first-unconstrained');
    const row = await replica.prepare('SELECT id FROM api_keys WHERE org_id = ?1').bind(tenant.orgId).first();
    expect(row).toBeNull();
    expect(await env.DB.prepare('SELECT id FROM api_keys WHERE org_id = ?1').bind(tenant.orgId).first()).not.toBeNull();
  });
});

describe('the contract', () => {
  type Operation = { parameters?: Array<{ $ref?: string }>; responses: Record<string, { headers?: Record<string, unknown> }> };
  const operations = Object.entries(spec.paths as unknown as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, operation })),
  );
  // A route that reads or writes D1 documents its 503 and 504 (routes/define-route.ts); /ready's own
  // 503 is no such mark: it probes the plain binding, so its answer carries no bookmark.
  const usingD1 = operations.filter(({ operation }) => '504' in operation.responses);

  it('declares the request header on every operation that uses D1, and the response header on each of its responses', () => {
    expect(usingD1.length).toBeGreaterThan(30);
    for (const { name, operation } of usingD1) {
      expect(
        operation.parameters?.some((parameter) => parameter.$ref === '#/components/parameters/Bookmark'),
        name,
      ).toBe(true);
      for (const [status, response] of Object.entries(operation.responses)) {
        expect(response.headers?.[BOOKMARK_HEADER], `${name} ${status}`).toEqual({ $ref: '#/components/headers/Bookmark' });
      }
    }
  });

  it('declares it nowhere else', () => {
    for (const { name, operation } of operations.filter(({ operation }) => !('504' in operation.responses))) {
      expect(operation.parameters?.some((parameter) => parameter.$ref === '#/components/parameters/Bookmark') ?? false, name).toBe(false);
    }
  });
});
