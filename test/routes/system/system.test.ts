import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { REQUIRED_MIGRATION } from '../../../src/db/migrations.ts';
import { LEASE_TIMEOUT_MS, RATE_LIMITER_BREAKER } from '../../../src/middleware/rate-limit.ts';
import { ROOM_BREAKER } from '../../../src/routes/sessions/room.ts';
import { READY_TIMEOUT_MS } from '../../../src/routes/system/get-ready.ts';
import type { Readiness } from '../../../src/schemas/system.ts';
import { faultyNamespace, objectError } from '../../helpers/faults.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { openSession } from '../../helpers/realtime.ts';
import { createTenant } from '../../helpers/tenants.ts';
import { api, callWorker } from '../../helpers/worker.ts';

describe('GET /health', () => {
  it('answers ok through the generated client', async () => {
    const { data, error, response } = await api.GET('/health');
    expect(error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(data).toEqual({ status: 'ok' });
    expect(response.headers.get('Content-Type')).toMatch(/^application\/json/);
  });

  it('refuses unknown query parameters, naming each', async () => {
    const response = await callWorker('/health?verbose=1&debug=true');
    const problem = await expectProblem(response, 400, 'validation_failed', '/health');
    expect(problem.errors).toEqual([
      { location: 'query', pointer: '/verbose', detail: 'Unknown query parameter', code: 'unknown_field' },
      { location: 'query', pointer: '/debug', detail: 'Unknown query parameter', code: 'unknown_field' },
    ]);
  });

  it('answers HEAD like GET, without a body', async () => {
    const response = await callWorker('/health', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });
});

describe('GET /ready', () => {
  it('is ready when D1 answers with the required migration and both kinds of Durable Object answer', async () => {
    const { data, response } = await api.GET('/ready');
    expect(response.status).toBe(200);
    expect(data).toEqual({
      status: 'ready',
      checks: {
        database: { status: 'ok', circuit: 'closed', duration_ms: expect.any(Number) },
        rate_limiter: { status: 'ok', circuit: 'closed', duration_ms: expect.any(Number) },
        session_rooms: { status: 'ok', open_circuits: 0, duration_ms: expect.any(Number) },
      },
    });
  });

  it('is degraded, still 200, while the RateLimiter does not answer: requests are served from the local allowance', async () => {
    const faulty = faultyNamespace(env.RATE_LIMITER, 'hang');
    const started = Date.now();
    const response = await callWorker('/ready', {}, { RATE_LIMITER: faulty.namespace });
    expect(response.status).toBe(200);
    const body = await response.json<Readiness>();
    expect(body.status).toBe('degraded');
    expect(body.checks.rate_limiter.status).toBe('degraded');
    expect(body.checks.session_rooms.status).toBe('ok');
    expect(body.checks.rate_limiter.duration_ms).toBeGreaterThanOrEqual(LEASE_TIMEOUT_MS - 5);
    expect(Date.now() - started).toBeLessThan(LEASE_TIMEOUT_MS + 1_000);
  });

  it('reports an open RateLimiter circuit without calling it', async () => {
    const faulty = faultyNamespace(env.RATE_LIMITER, objectError('RateLimiter storage failed.', {}));
    const tenant = await createTenant();
    const overrides = { RATE_LIMITER: faulty.namespace };
    for (let failure = 0; failure < RATE_LIMITER_BREAKER.failureThreshold; failure += 1) {
      await callWorker('/v1/devices', { headers: { Authorization: `Bearer ${tenant.key.secret}` } }, overrides);
    }
    const callsBefore = faulty.calls();
    const body = await (await callWorker('/ready', {}, overrides)).json<Readiness>();
    expect(body.checks.rate_limiter).toEqual({ status: 'degraded', circuit: 'open', duration_ms: expect.any(Number) });
    expect(faulty.calls()).toBe(callsBefore);
  });

  it('is degraded while SessionRooms fail, and counts the rooms whose circuit this instance holds open', async () => {
    const tenant = await createTenant();
    const failing = await openSession(tenant);
    const faulty = faultyNamespace(env.SESSION_ROOM, objectError('Durable Object storage failed.', {}));
    const overrides = { SESSION_ROOM: faulty.namespace };
    for (let failure = 0; failure < ROOM_BREAKER.failureThreshold; failure += 1) {
      await callWorker(`/v1/sessions/${failing}/participants`, { headers: { Authorization: `Bearer ${tenant.key.secret}` } }, overrides);
    }
    const response = await callWorker('/ready', {}, overrides);
    expect(response.status).toBe(200);
    const body = await response.json<Readiness>();
    expect(body.status).toBe('degraded');
    expect(body.checks.session_rooms).toEqual({ status: 'unavailable', open_circuits: 1, duration_ms: expect.any(Number) });
    expect(body.checks.rate_limiter.status).toBe('ok');
  });

  it('requires the newest migration in migrations/', () => {
    // Forgetting to bump REQUIRED_MIGRATION when adding a migration fails here.
    expect(REQUIRED_MIGRATION).toBe(env.TEST_MIGRATIONS.at(-1)?.name);
  });

  it('is not ready on a real D1 database that was never migrated: 503 with Retry-After', async () => {
    const response = await callWorker('/ready', {}, { DB: env.UNMIGRATED_DB });
    expect(response.headers.get('Retry-After')).toBe('5');
    const problem = await expectProblem(response, 503, 'not_ready', '/ready');
    expect(problem.detail).toMatch(/could not be queried|missing migration/);
  });

  it('is not ready on a migrated database that lacks the required migration', async () => {
    await env.UNMIGRATED_DB.exec(
      'CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)',
    );
    const response = await callWorker('/ready', {}, { DB: env.UNMIGRATED_DB });
    const problem = await expectProblem(response, 503, 'not_ready');
    expect(problem.detail).toBe(`The database is missing migration ${REQUIRED_MIGRATION}.`);
  });

  it(
    'gives up on a database that does not answer in time',
    async () => {
      // A stand-in for an unreachable D1, which cannot be produced locally: its queries never settle.
      const neverAnswers = new Promise<never>(() => {});
      const queries = { prepare: () => ({ bind: () => ({ first: () => neverAnswers }) }) };
      // Each request's D1 is a session of the binding (src/middleware/d1-session.ts).
      const hangingDb = { ...queries, withSession: () => ({ ...queries, getBookmark: () => null }) };
      const started = Date.now();
      const response = await callWorker('/ready', {}, { DB: hangingDb });
      expect(Date.now() - started).toBeGreaterThanOrEqual(READY_TIMEOUT_MS - 50);
      expect(response.headers.get('Retry-After')).toBe('5');
      await expectProblem(response, 503, 'not_ready');
    },
    READY_TIMEOUT_MS + 5_000,
  );
});
