/**
 * The hourly retention run, through the Worker's real `scheduled` handler, on data of every age:
 * what is past its retention goes, what is not stays, a failing room leaves its session for the
 * next run, and every purge stops at its per-run cap and leaves the rest to the next run.
 */
import { createScheduledController, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AUDIT_EVENT_PURGE_BATCH_ROWS, insertAuditEvent } from '../../src/db/audit-events.ts';
import { DEVICE_CONNECTION_PURGE_BATCH_ROWS } from '../../src/db/device-connections.ts';
import { EVENT_PURGE_BATCH_ROWS, insertEvent } from '../../src/db/events.ts';
import { claimIdempotencyKey, IDEMPOTENCY_PURGE_BATCH_ROWS } from '../../src/db/idempotency-keys.ts';
import { AUDIT_RETENTION_DAYS } from '../../src/db/organizations.ts';
import { SESSION_KEY_GRANT_PURGE_BATCH_ROWS } from '../../src/db/session-key-grants.ts';
import { insertSession } from '../../src/db/sessions.ts';
import { recordNonce } from '../../src/db/signature-nonces.ts';
import { JOIN_REFUSAL_HEADER, joinHeaders } from '../../src/durable-objects/session-room-protocol.ts';
import worker from '../../src/index.ts';
import { open, storageKeyring } from '../../src/lib/encryption.ts';
import { newId } from '../../src/lib/ids.ts';
import { webhookSecretSealingContext } from '../../src/lib/webhook-secret.ts';
import { MAX_BATCHES_PER_PURGE, MAX_ROOM_PURGES_PER_RUN, MESSAGE_RING_GRACE_MS, ROOM_PURGE_TIMEOUT_MS } from '../../src/scheduled.ts';
import { EVENT_RETENTION_DAYS } from '../../src/schemas/events.ts';
import type { Plan } from '../../src/schemas/plans.ts';
import { D1_FAILURES, faultyD1, faultyNamespace, objectError, touching } from '../helpers/faults.ts';
import { expectProblem } from '../helpers/problem.ts';
import { connectRequest, mintToken, openSession, testRoomSettings } from '../helpers/realtime.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const MINUTE_MS = 60 * 1000;

const iso = (ms: number) => new Date(ms).toISOString();

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs the Worker's scheduled handler as the cron would at `at`, and returns the lines it logged. */
async function runScheduled(at: number, overrides: Partial<Record<string, unknown>> = {}): Promise<LogLine[]> {
  const written: string[] = [];
  const spies = (['log', 'warn', 'error'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((line: unknown) => {
      written.push(String(line));
    }),
  );
  try {
    // A fresh env object: configuration is parsed per env object, so an override takes effect. The
    // handler takes no ExecutionContext: the run is awaited, nothing is left to waitUntil().
    await worker.scheduled(createScheduledController({ scheduledTime: at, cron: '17 * * * *' }), { ...env, ...overrides } as typeof env);
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return written.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine);
}

/** The one line a purge logs when it finished, for its table. */
function purgeLine(lines: LogLine[], table: string): LogLine {
  const matching = lines.filter((line) => line.table === table && line.level === 'info' && line.msg.startsWith('retention: purged'));
  expect(matching, `lines for ${table}: ${JSON.stringify(lines)}`).toHaveLength(1);
  return matching[0] as LogLine;
}

/** Runs until `table` has nothing left past its retention, so a test can count exactly what one run deletes. */
async function drain(table: string): Promise<void> {
  for (let run = 0; run < 10; run += 1) {
    if (purgeLine(await runScheduled(Date.now()), table).more_left === false) return;
  }
  throw new Error(`${table} did not drain in 10 runs`);
}

function roomStub(sessionId: string) {
  return env.SESSION_ROOM.get(env.SESSION_ROOM.idFromName(sessionId));
}

function storedMessages(sessionId: string): Promise<number> {
  return runInDurableObject(
    roomStub(sessionId),
    (_room, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM messages').one().n,
  );
}

async function messagesPurgedAt(sessionId: string): Promise<string | null | undefined> {
  const row = await env.DB.prepare('SELECT messages_purged_at FROM sessions WHERE id = ?1')
    .bind(sessionId)
    .first<{ messages_purged_at: string | null }>();
  return row?.messages_purged_at;
}

/** A join forwarded straight to the room, as the Worker would, claiming the session still has an hour to run. */
function joinRoomDirectly(sessionId: string): Promise<Response> {
  const join = joinHeaders({
    participant: 'client:late',
    settings: testRoomSettings(),
    lastSeq: 0,
    epoch: undefined,
    protocol: undefined,
    deviceVersion: undefined,
    apiKeyId: undefined,
  });
  return roomStub(sessionId).fetch(new Request('https://room.test/connect', { headers: join }));
}

/** A session opened through the API with `count` messages in its room, and a token minted while it was open. */
async function sessionWithMessages(tenant: Tenant, count = 3): Promise<{ id: string; token: string }> {
  const id = await openSession(tenant);
  const token = await mintToken(tenant, id, 'client:late');
  for (let n = 1; n <= count; n += 1) {
    const published = await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id } }, body: { payload: { n } } });
    expect(published.response.status).toBe(202);
  }
  expect(await storedMessages(id)).toBe(count);
  return { id, token };
}

/** Ends the session through the API, then moves its end back to `endedAt`. */
async function endSessionAt(tenant: Tenant, sessionId: string, endedAt: number): Promise<void> {
  const ended = await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
  expect(ended.response.status).toBe(200);
  await env.DB.prepare('UPDATE sessions SET ended_at = ?2 WHERE id = ?1').bind(sessionId, iso(endedAt)).run();
}

async function expireSessionAt(sessionId: string, expiredAt: number): Promise<void> {
  await env.DB.prepare('UPDATE sessions SET expires_at = ?2 WHERE id = ?1').bind(sessionId, iso(expiredAt)).run();
}

/** Sessions written straight to D1, over since `overAt`, whose rooms were never used. */
async function insertEndedSessions(orgId: string, count: number, overAt: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId('session'));
  await env.DB.batch(
    ids.map((id) =>
      insertSession(env.DB, {
        id,
        orgId,
        allowedDeviceIds: null,
        maxParticipants: 10,
        expiresAt: iso(overAt + 60 * MINUTE_MS),
        endedAt: iso(overAt),
        endReason: 'ended',
        createdAt: iso(overAt - 60 * MINUTE_MS),
        presenceGraceSeconds: 15,
        maxFrameBytes: 65_536,
        framesPerSecond: 50,
        historyMaxMessages: 10_000,
        historyMaxAgeSeconds: 86_400,
      }),
    ),
  );
  return ids;
}

async function countWhere(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? Number.NaN;
}

describe('retention: audit events', () => {
  it('deletes each organisation’s events past its own plan’s retention, to the millisecond, and nothing else', async () => {
    const now = Date.now();
    const plans = Object.keys(AUDIT_RETENTION_DAYS) as Plan[];
    const ages = [...new Set(Object.values(AUDIT_RETENTION_DAYS))];
    const seeded: Array<{ orgId: string; plan: Plan; targetId: string; createdAt: number }> = [];
    for (const plan of plans) {
      const { orgId } = await createTenant({ plan });
      // Every plan's boundary, 1 ms either side, in every organisation: a 7-day-old event goes
      // from a free organisation and stays in a pro one.
      const events = ages.flatMap((days) => [now - days * DAY_MS + 1, now - days * DAY_MS - 1]).concat(now - MINUTE_MS);
      for (const createdAt of events) {
        const targetId = newId('device');
        seeded.push({ orgId, plan, targetId, createdAt });
        await insertAuditEvent(
          env.DB,
          { orgId, actorKeyId: null, requestId: 'req_retention', ipHash: null, userAgent: null },
          { action: 'device.updated', targetType: 'device', targetId, at: iso(createdAt) },
        ).run();
      }
    }

    const line = purgeLine(await runScheduled(now), 'audit_events');

    const expectedGone = seeded.filter((event) => event.createdAt < now - AUDIT_RETENTION_DAYS[event.plan] * DAY_MS);
    for (const event of seeded) {
      const left = await countWhere(
        'SELECT COUNT(*) AS n FROM audit_events WHERE org_id = ?1 AND target_id = ?2',
        event.orgId,
        event.targetId,
      );
      const ageDays = ((now - event.createdAt) / DAY_MS).toFixed(5);
      expect(left, `${event.plan} event ${ageDays} days old`).toBe(expectedGone.includes(event) ? 0 : 1);
    }
    expect(line).toMatchObject({ level: 'info', msg: 'retention: purged audit events past their plan retention' });
    expect(line.deleted).toBeGreaterThanOrEqual(expectedGone.length);
  });

  it('deletes in batches and stops at the per-run cap; the next run deletes the rest', async () => {
    await drain('audit_events');
    const { orgId } = await createTenant({ plan: 'free' });
    const cap = MAX_BATCHES_PER_PURGE * AUDIT_EVENT_PURGE_BATCH_ROWS;
    const excess = AUDIT_EVENT_PURGE_BATCH_ROWS / 2;
    const old = iso(Date.now() - (AUDIT_RETENTION_DAYS.free + 1) * DAY_MS);
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
       INSERT INTO audit_events (id, org_id, actor_key_id, action, target_type, target_id, request_id, ip_hash, user_agent, created_at)
       SELECT 'evt_bulk' || ?1 || i, ?1, NULL, 'device.updated', 'device', 'dev_bulk', 'req_bulk', NULL, NULL, ?2 FROM n`,
    )
      .bind(orgId, old, cap + excess)
      .run();
    const left = () => countWhere('SELECT COUNT(*) AS n FROM audit_events WHERE org_id = ?1', orgId);

    const first = purgeLine(await runScheduled(Date.now()), 'audit_events');
    expect(first).toMatchObject({ deleted: cap, batches: MAX_BATCHES_PER_PURGE, more_left: true });
    expect(await left()).toBe(excess);

    const second = purgeLine(await runScheduled(Date.now()), 'audit_events');
    expect(second).toMatchObject({ deleted: excess, batches: 1, more_left: false });
    expect(await left()).toBe(0);
  });
});

describe('retention: events', () => {
  it(`deletes events older than ${EVENT_RETENTION_DAYS} days, to the millisecond, whatever the plan, and keeps the rest`, async () => {
    const now = Date.now();
    const boundary = now - EVENT_RETENTION_DAYS * DAY_MS;
    const { orgId } = await createTenant({ plan: 'enterprise' });
    const ages = { gone: boundary - 1, kept: boundary + 1, fresh: now - MINUTE_MS };
    const ids: Record<string, string> = {};
    for (const [label, createdAt] of Object.entries(ages)) {
      ids[label] = newId('event');
      const data = JSON.stringify({ id: newId('device') });
      await insertEvent(env.DB, { id: ids[label] ?? '', orgId, type: 'device.updated', data, createdAt: iso(createdAt) }).run();
    }

    const line = purgeLine(await runScheduled(now), 'events');

    const left = async (label: string) => countWhere('SELECT COUNT(*) AS n FROM events WHERE id = ?1', ids[label]);
    expect([await left('gone'), await left('kept'), await left('fresh')]).toEqual([0, 1, 1]);
    expect(line).toMatchObject({ level: 'info', msg: 'retention: purged events past their 30 days' });
    expect(line.deleted).toBeGreaterThanOrEqual(1);
  });

  it('deletes in batches and stops at the per-run cap; the next run deletes the rest', async () => {
    await drain('events');
    const { orgId } = await createTenant();
    const cap = MAX_BATCHES_PER_PURGE * EVENT_PURGE_BATCH_ROWS;
    const excess = EVENT_PURGE_BATCH_ROWS / 2;
    const old = iso(Date.now() - (EVENT_RETENTION_DAYS + 1) * DAY_MS);
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
       INSERT INTO events (id, org_id, type, data, created_at) SELECT 'msg_bulk' || i, ?1, 'device.updated', '{}', ?2 FROM n`,
    )
      .bind(orgId, old, cap + excess)
      .run();
    const left = () => countWhere('SELECT COUNT(*) AS n FROM events WHERE org_id = ?1', orgId);

    const first = purgeLine(await runScheduled(Date.now()), 'events');
    expect(first).toMatchObject({ deleted: cap, batches: MAX_BATCHES_PER_PURGE, more_left: true });
    expect(await left()).toBe(excess);

    const second = purgeLine(await runScheduled(Date.now()), 'events');
    expect(second).toMatchObject({ deleted: excess, batches: 1, more_left: false });
    expect(await left()).toBe(0);
  });
});

describe('retention: webhook attempts and deliveries', () => {
  it(`deletes attempts and settled deliveries older than ${EVENT_RETENTION_DAYS} days, and never a pending delivery`, async () => {
    const now = Date.now();
    const { orgId } = await createTenant();
    const old = iso(now - (EVENT_RETENTION_DAYS * DAY_MS + MINUTE_MS));
    const recent = iso(now - (EVENT_RETENTION_DAYS * DAY_MS - MINUTE_MS));
    const delivery = (id: string, status: string, updatedAt: string) =>
      env.DB.prepare(
        `INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, 'whe_retention', ?1, ?3, 1, ?4, ?5, ?5)`,
      )
        .bind(id, orgId, status, status === 'pending' ? updatedAt : null, updatedAt)
        .run();
    await delivery('whd_old_succeeded', 'succeeded', old);
    await delivery('whd_old_failed', 'failed', old);
    await delivery('whd_old_pending', 'pending', old);
    await delivery('whd_recent_succeeded', 'succeeded', recent);
    const attempt = (id: string, createdAt: string) =>
      env.DB.prepare(
        `INSERT INTO webhook_attempts (id, org_id, endpoint_id, delivery_id, event_id, attempt, outcome, status_code, duration_ms, next_attempt_at, created_at)
         VALUES (?1, ?2, 'whe_retention', 'whd_old_succeeded', 'msg_retention', 1, 'succeeded', 200, 5, NULL, ?3)`,
      )
        .bind(id, orgId, createdAt)
        .run();
    await attempt('wha_old', old);
    await attempt('wha_recent', recent);

    const lines = await runScheduled(now);

    const ids = async (table: string) =>
      (await env.DB.prepare(`SELECT id FROM ${table} WHERE org_id = ?1 ORDER BY id`).bind(orgId).all<{ id: string }>()).results.map(
        (row) => row.id,
      );
    expect(await ids('webhook_deliveries')).toEqual(['whd_old_pending', 'whd_recent_succeeded']);
    expect(await ids('webhook_attempts')).toEqual(['wha_recent']);
    expect(purgeLine(lines, 'webhook_attempts')).toMatchObject({
      level: 'info',
      msg: 'retention: purged webhook attempts past their 30 days',
    });
    expect(purgeLine(lines, 'webhook_deliveries')).toMatchObject({
      level: 'info',
      msg: 'retention: purged settled webhook deliveries past their 30 days',
    });
  });
});

describe('retention: idempotency records', () => {
  async function claim(orgId: string, key: string, expiresAt: number): Promise<void> {
    const claimed = await claimIdempotencyKey(env.DB, {
      orgId,
      key,
      fingerprint: 'f'.repeat(64),
      now: iso(Date.now()),
      lockedUntil: iso(Date.now() + MINUTE_MS),
      expiresAt: iso(expiresAt),
    });
    expect(claimed).toBe(true);
  }

  it('deletes the expired records and keeps the live ones', async () => {
    const now = Date.now();
    const tenant = await createTenant();
    await claim(tenant.orgId, 'expired-just-now', now);
    await claim(tenant.orgId, 'expired-yesterday', now - DAY_MS);
    await claim(tenant.orgId, 'live-one-more-ms', now + 1);
    // A record the API itself wrote, 24 hours to live.
    const created = await tenant.api.POST('/v1/devices', {
      body: { name: 'kept', kind: 'iot' },
      headers: { 'Idempotency-Key': 'api-written' },
    });
    expect(created.response.status).toBe(201);

    const line = purgeLine(await runScheduled(now), 'idempotency_keys');

    const keys = await env.DB.prepare('SELECT key FROM idempotency_keys WHERE org_id = ?1 ORDER BY key')
      .bind(tenant.orgId)
      .all<{ key: string }>();
    expect(keys.results.map((row) => row.key)).toEqual(['api-written', 'live-one-more-ms']);
    expect(line).toMatchObject({ level: 'info', msg: 'retention: purged expired idempotency records' });
    expect(line.deleted).toBeGreaterThanOrEqual(2);
  });

  it('deletes in batches and stops at the per-run cap; the next run deletes the rest', async () => {
    await drain('idempotency_keys');
    const { orgId } = await createTenant();
    const cap = MAX_BATCHES_PER_PURGE * IDEMPOTENCY_PURGE_BATCH_ROWS;
    const excess = 7;
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
       INSERT INTO idempotency_keys (org_id, key, fingerprint, state, created_at, expires_at)
       SELECT ?1, 'bulk-' || i, 'fingerprint', 'completed', ?2, ?2 FROM n`,
    )
      .bind(orgId, iso(Date.now() - DAY_MS), cap + excess)
      .run();
    const left = () => countWhere('SELECT COUNT(*) AS n FROM idempotency_keys WHERE org_id = ?1', orgId);

    const first = purgeLine(await runScheduled(Date.now()), 'idempotency_keys');
    expect(first).toMatchObject({ deleted: cap, batches: MAX_BATCHES_PER_PURGE, more_left: true });
    expect(await left()).toBe(excess);

    const second = purgeLine(await runScheduled(Date.now()), 'idempotency_keys');
    expect(second).toMatchObject({ deleted: excess, batches: 1, more_left: false });
    expect(await left()).toBe(0);
  });
});

describe('retention: signature nonces', () => {
  it('deletes the nonces whose signatures can no longer be accepted, and keeps the others refusing replays', async () => {
    const now = Date.now();
    const { orgId } = await createTenant();
    const nonce = (name: string, expiresAt: number) => recordNonce(env.DB, orgId, name, iso(expiresAt), iso(now)).run();
    await nonce('expired-nonce-0000', now - MINUTE_MS);
    await nonce('live-nonce-000000', now + MINUTE_MS);

    const line = purgeLine(await runScheduled(now), 'signature_nonces');

    const left = await env.DB.prepare('SELECT nonce FROM signature_nonces WHERE org_id = ?1').bind(orgId).all<{ nonce: string }>();
    expect(left.results.map((row) => row.nonce)).toEqual(['live-nonce-000000']);
    expect(line).toMatchObject({ level: 'info', msg: 'retention: purged signature nonces past their window' });
    // A live nonce is a replay; an expired one, even before the purge deletes it, is not.
    expect((await nonce('live-nonce-000000', now + 2 * MINUTE_MS)).meta.changes).toBe(0);
    await nonce('expired-again-000', now - MINUTE_MS);
    expect((await nonce('expired-again-000', now + MINUTE_MS)).meta.changes).toBe(1);
  });
});

describe('retention: a failing purge', () => {
  it('is logged with what it deleted before failing, and the other purges still run', async () => {
    const tenant = await createTenant();
    const [ended] = await insertEndedSessions(tenant.orgId, 1, Date.now() - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.internal }, touching('DELETE FROM idempotency_keys'), 1);

    const lines = await runScheduled(Date.now(), { DB: faulty.db });

    const failure = lines.find((line) => line.table === 'idempotency_keys');
    expect(failure).toMatchObject({
      level: 'error',
      msg: 'retention: could not purge expired idempotency records',
      deleted: 0,
      batches: 0,
    });
    for (const table of ['device_connections', 'session_key_grants', 'audit_events', 'sessions']) {
      expect(purgeLine(lines, table).level).toBe('info');
    }
    expect(await messagesPurgedAt(ended ?? '')).not.toBeNull();
  });
});

describe('retention: device connections', () => {
  it('deletes the rows of sessions whose messages are purged batch by batch, and keeps those of open ones and of ended ones whose rooms still hold messages', async () => {
    await drain('device_connections');
    const tenant = await createTenant();
    const open = await openSession(tenant);
    const [ended, endedUnpurged] = await insertEndedSessions(tenant.orgId, 2, Date.now() - MINUTE_MS);
    await env.DB.prepare('UPDATE sessions SET messages_purged_at = ?2 WHERE id = ?1').bind(ended, iso(Date.now())).run();
    const rows = DEVICE_CONNECTION_PURGE_BATCH_ROWS + 3;
    for (const sessionId of [open, ended, endedUnpurged]) {
      await env.DB.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
         INSERT INTO device_connections (org_id, device_id, session_id, connected_at) SELECT ?1, 'dev_bulk' || i, ?2, ?4 FROM n`,
      )
        .bind(tenant.orgId, sessionId, rows, iso(Date.now()))
        .run();
    }
    const left = (sessionId: string | undefined) =>
      countWhere('SELECT COUNT(*) AS n FROM device_connections WHERE session_id = ?1', sessionId);

    const line = purgeLine(await runScheduled(Date.now()), 'device_connections');

    expect(line).toMatchObject({ deleted: rows, batches: 2, more_left: false });
    expect(await left(ended)).toBe(0);
    expect(await left(open)).toBe(rows);
    // A device erased now must still reach its messages in that room.
    expect(await left(endedUnpurged)).toBe(rows);
  });
});

describe('retention: session key grants', () => {
  it('deletes the grants past their expiry batch by batch, and keeps the others, the API-written one among them', async () => {
    await drain('session_key_grants');
    const now = Date.now();
    const tenant = await createTenant();
    const open = await openSession(tenant);
    await mintToken(tenant, open);
    const [over] = await insertEndedSessions(tenant.orgId, 1, now - MINUTE_MS);
    // One grant per key: bulk keys, so that one session holds more grants than a purge batch.
    const keys = SESSION_KEY_GRANT_PURGE_BATCH_ROWS + 3;
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO api_keys (id, org_id, name, mode, prefix, hash, scopes, created_at)
       SELECT 'key_bulk' || ?1 || i, ?1, 'bulk', 'test', 'sy_test_bulk', 'bulk' || ?1 || i, '[]', ?3 FROM n`,
    )
      .bind(tenant.orgId, keys, iso(now))
      .run();
    const grant = (sessionId: string | undefined, expiresAt: number) =>
      env.DB.prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
         INSERT INTO session_key_grants (org_id, api_key_id, session_id, expires_at) SELECT ?1, 'key_bulk' || ?1 || i, ?2, ?4 FROM n`,
      )
        .bind(tenant.orgId, sessionId, keys, iso(expiresAt))
        .run();
    await grant(over, now);
    await grant(open, now + 1);
    const left = (sessionId: string | undefined) =>
      countWhere('SELECT COUNT(*) AS n FROM session_key_grants WHERE session_id = ?1', sessionId);

    const line = purgeLine(await runScheduled(now), 'session_key_grants');

    expect(line).toMatchObject({ level: 'info', msg: 'retention: purged session key grants past their expiry' });
    expect(line).toMatchObject({ deleted: keys, batches: 2, more_left: false });
    expect(await left(over)).toBe(0);
    // The bulk grants a millisecond from their expiry, and the one the token's mint wrote.
    expect(await left(open)).toBe(keys + 1);
  });
});

describe('retention: message rings of ended sessions', () => {
  it('erases the rooms of sessions over for longer than the grace period, and marks them; others are left alone', async () => {
    await drain('sessions');
    const now = Date.now();
    const tenant = await createTenant();
    const endedLongAgo = await sessionWithMessages(tenant);
    await endSessionAt(tenant, endedLongAgo.id, now - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    const expiredLongAgo = await sessionWithMessages(tenant, 2);
    await expireSessionAt(expiredLongAgo.id, now - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    const endedRecently = await sessionWithMessages(tenant, 4);
    await endSessionAt(tenant, endedRecently.id, now - MESSAGE_RING_GRACE_MS + MINUTE_MS);
    const open = await sessionWithMessages(tenant, 5);
    // An alarm left behind (a socket sweep): an erased room should not wake for it.
    await runInDurableObject(roomStub(endedLongAgo.id), (_room, state) => state.storage.setAlarm(now + 60 * MINUTE_MS));

    const line = purgeLine(await runScheduled(now), 'sessions');

    for (const { id } of [endedLongAgo, expiredLongAgo]) {
      expect(await storedMessages(id)).toBe(0);
      expect(await messagesPurgedAt(id)).toBe(iso(now));
    }
    expect(await runInDurableObject(roomStub(endedLongAgo.id), (_room, state) => state.storage.getAlarm())).toBeNull();
    expect(await storedMessages(endedRecently.id)).toBe(4);
    expect(await messagesPurgedAt(endedRecently.id)).toBeNull();
    expect(await storedMessages(open.id)).toBe(5);
    expect(await messagesPurgedAt(open.id)).toBeNull();
    expect(line).toMatchObject({ level: 'info', msg: 'retention: purged the messages of ended sessions', failed: 0, more_left: false });
    expect(line).toMatchObject({ purged: 2, messages_deleted: 5 });
  });

  it('an erased room still refuses a late join as ended, through the API and on its own', async () => {
    const now = Date.now();
    const tenant = await createTenant();
    const ended = await sessionWithMessages(tenant);
    await endSessionAt(tenant, ended.id, now - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    // Expired without the room ever being told (nobody joined, so it does not know the expiry).
    const expired = await sessionWithMessages(tenant);
    await expireSessionAt(expired.id, now - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    await runScheduled(now);

    await expectProblem(await connectRequest(ended.id, { token: ended.token }), 409, 'session_ended');
    for (const { id } of [ended, expired]) {
      expect(await storedMessages(id)).toBe(0);
      // From storage, not from an instance that remembers: the room is evicted first.
      await evictDurableObject(roomStub(id));
      const refused = await joinRoomDirectly(id);
      expect(refused.status).toBe(409);
      expect(refused.headers.get(JOIN_REFUSAL_HEADER)).toBe('session_ended');
    }
  });

  it('a room that fails stays unmarked with its messages, the rest of the run goes on, and the next run purges it', async () => {
    const now = Date.now();
    const tenant = await createTenant();
    const failing = await sessionWithMessages(tenant);
    const healthy = await sessionWithMessages(tenant);
    for (const { id } of [failing, healthy]) await endSessionAt(tenant, id, now - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    const faulty = faultyNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}), 1, failing.id);

    const lines = await runScheduled(now, { SESSION_ROOM: faulty.namespace });

    expect(faulty.calls()).toBe(1);
    expect(await messagesPurgedAt(failing.id)).toBeNull();
    expect(await storedMessages(failing.id)).toBe(3);
    expect(await messagesPurgedAt(healthy.id)).toBe(iso(now));
    expect(await storedMessages(healthy.id)).toBe(0);
    const warning = lines.find((line) => line.level === 'warn' && line.session_id === failing.id);
    expect(warning?.msg).toBe('retention: could not purge the messages of a session; next run tries again');
    expect(JSON.stringify(warning?.error)).toContain('Durable Object storage failed.');
    expect(purgeLine(lines, 'sessions')).toMatchObject({ failed: 1 });

    const next = now + 60 * MINUTE_MS;
    await runScheduled(next, { SESSION_ROOM: faulty.namespace });
    expect(faulty.calls()).toBe(2);
    expect(await messagesPurgedAt(failing.id)).toBe(iso(next));
    expect(await storedMessages(failing.id)).toBe(0);
  });

  it('a room that never answers is given up on after the timeout; the run ends and the session waits for the next', async () => {
    const now = Date.now();
    const tenant = await createTenant();
    const hanging = await sessionWithMessages(tenant);
    const healthy = await sessionWithMessages(tenant);
    for (const { id } of [hanging, healthy]) await endSessionAt(tenant, id, now - MESSAGE_RING_GRACE_MS - MINUTE_MS);
    const faulty = faultyNamespace(env.SESSION_ROOM, 'hang', 1, hanging.id);

    const started = Date.now();
    const lines = await runScheduled(now, { SESSION_ROOM: faulty.namespace });
    const took = Date.now() - started;

    expect(took).toBeGreaterThanOrEqual(ROOM_PURGE_TIMEOUT_MS);
    expect(took).toBeLessThan(ROOM_PURGE_TIMEOUT_MS + 3_000);
    expect(await messagesPurgedAt(hanging.id)).toBeNull();
    expect(await storedMessages(hanging.id)).toBe(3);
    expect(await messagesPurgedAt(healthy.id)).toBe(iso(now));
    const warning = lines.find((line) => line.level === 'warn' && line.session_id === hanging.id);
    expect(JSON.stringify(warning?.error)).toContain(`did not answer within ${ROOM_PURGE_TIMEOUT_MS} ms`);
  }, 20_000);

  it('purges at most the per-run cap of rooms, the longest over first; the next run purges the rest', async () => {
    const now = Date.now();
    const tenant = await createTenant();
    const excess = 5;
    // Older than anything earlier tests left unpurged, so these come first.
    const first = await insertEndedSessions(tenant.orgId, MAX_ROOM_PURGES_PER_RUN, now - 30 * DAY_MS);
    const rest = await insertEndedSessions(tenant.orgId, excess, now - 29 * DAY_MS);
    const unmarked = (ids: string[]) =>
      countWhere(
        'SELECT COUNT(*) AS n FROM sessions WHERE id IN (SELECT value FROM json_each(?1)) AND messages_purged_at IS NULL',
        JSON.stringify(ids),
      );

    const firstRun = purgeLine(await runScheduled(now), 'sessions');
    expect(firstRun).toMatchObject({ purged: MAX_ROOM_PURGES_PER_RUN, failed: 0, more_left: true });
    expect(await unmarked(first)).toBe(0);
    expect(await unmarked(rest)).toBe(excess);

    const secondRun = purgeLine(await runScheduled(now), 'sessions');
    expect(secondRun).toMatchObject({ failed: 0, more_left: false });
    expect(secondRun.purged).toBeGreaterThanOrEqual(excess);
    expect(await unmarked(rest)).toBe(0);
  }, 30_000);
});

describe('retention: webhook signing secrets', () => {
  const NEXT_STORAGE_SECRET = 'the-next-storage-encryption-secret-0123456789abcdef';

  async function endpointWithRotation(tenant: Tenant) {
    const created = await tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/upkeep' } });
    const id = created.data?.id ?? '';
    const rotated = await tenant.api.POST('/v1/webhook-endpoints/{id}/rotate-secret', { params: { path: { id } } });
    return { id, first: created.data?.secret ?? '', second: rotated.data?.secret ?? '' };
  }

  function sealedRow(id: string) {
    return env.DB.prepare(
      'SELECT secret_sealed, previous_secret_sealed, previous_secret_expires_at, version FROM webhook_endpoints WHERE id = ?1',
    )
      .bind(id)
      .first<{
        secret_sealed: string;
        previous_secret_sealed: string | null;
        previous_secret_expires_at: string | null;
        version: number;
      }>();
  }

  it('forgets a replaced secret once its 24-hour overlap is over, and keeps it until then', async () => {
    const tenant = await createTenant();
    const ending = await endpointWithRotation(tenant);
    const lasting = await endpointWithRotation(tenant);
    await env.DB.prepare('UPDATE webhook_endpoints SET previous_secret_expires_at = ?2 WHERE id = ?1')
      .bind(ending.id, iso(Date.now() - 1000))
      .run();
    const lines = await runScheduled(Date.now());
    expect(purgeLine(lines, 'webhook_endpoints')).toMatchObject({ deleted: 1, more_left: false });
    expect(await sealedRow(ending.id)).toMatchObject({ previous_secret_sealed: null, previous_secret_expires_at: null, version: 2 });
    expect((await sealedRow(lasting.id))?.previous_secret_sealed).toMatch(/^v1\./);
    const read = await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: ending.id } } });
    expect(read.data?.previous_secret_expires_at).toBeNull();
  });

  it('re-seals secrets under a new storage secret while the old one is a previous secret, and loses none', async () => {
    const tenant = await createTenant();
    const endpoint = await endpointWithRotation(tenant);
    const before = await sealedRow(endpoint.id);
    const rotatedStorage = {
      STORAGE_ENCRYPTION_SECRET: NEXT_STORAGE_SECRET,
      STORAGE_ENCRYPTION_PREVIOUS_SECRETS: env.STORAGE_ENCRYPTION_SECRET,
    };
    const lines = await runScheduled(Date.now(), rotatedStorage);
    const resealed = lines.find((line) => line.msg.startsWith('retention: re-sealed webhook secrets'));
    expect(resealed, JSON.stringify(lines)).toMatchObject({ level: 'info', unreadable: 0 });
    expect(resealed?.resealed).toBeGreaterThanOrEqual(1);

    const after = await sealedRow(endpoint.id);
    expect(after?.secret_sealed).not.toBe(before?.secret_sealed);
    expect(after?.version).toBe(before?.version);
    // Only the new storage secret is needed now: the old one can be retired.
    const newOnly = await storageKeyring(NEXT_STORAGE_SECRET, []);
    const context = webhookSecretSealingContext(tenant.orgId, endpoint.id);
    expect(await open(newOnly, after?.secret_sealed ?? '', context)).toBe(endpoint.second);
    expect(await open(newOnly, after?.previous_secret_sealed ?? '', context)).toBe(endpoint.first);
    // A second run finds nothing left to re-seal.
    const again = (await runScheduled(Date.now(), rotatedStorage)).find((line) => line.msg.startsWith('retention: re-sealed'));
    expect(await sealedRow(endpoint.id)).toEqual(after);
    expect(again?.more_left).toBe(false);
  });

  it('leaves a secret sealed under a storage secret no longer configured as it is, and logs an error', async () => {
    const tenant = await createTenant();
    const endpoint = await endpointWithRotation(tenant);
    const before = await sealedRow(endpoint.id);
    const lines = await runScheduled(Date.now(), { STORAGE_ENCRYPTION_SECRET: NEXT_STORAGE_SECRET });
    const error = lines.find((line) => line.table === 'webhook_endpoints' && line.level === 'error');
    expect(error?.msg, JSON.stringify(lines)).toMatch(/no longer configured/);
    expect(error?.unreadable).toBeGreaterThanOrEqual(1);
    expect(await sealedRow(endpoint.id)).toEqual(before);
  });
});
