import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { REQUIRED_MIGRATION } from '../../../src/db/migrations.ts';
import { READY_TIMEOUT_MS } from '../../../src/routes/system/get-ready.ts';
import { expectProblem } from '../../helpers/problem.ts';
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
  it('is ready when D1 answers and has the required migration', async () => {
    const { data, response } = await api.GET('/ready');
    expect(response.status).toBe(200);
    expect(data?.status).toBe('ready');
    expect(data?.checks.database.status).toBe('ok');
    expect(data?.checks.database.duration_ms).toBeGreaterThanOrEqual(0);
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
      const hangingDb = {
        prepare: () => ({ bind: () => ({ first: () => neverAnswers }) }),
      };
      const started = Date.now();
      const response = await callWorker('/ready', {}, { DB: hangingDb });
      expect(Date.now() - started).toBeGreaterThanOrEqual(READY_TIMEOUT_MS - 50);
      expect(response.headers.get('Retry-After')).toBe('5');
      await expectProblem(response, 503, 'not_ready');
    },
    READY_TIMEOUT_MS + 5_000,
  );
});
