import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

function createKey(tenant: Tenant, idempotencyKey: string, body: unknown = { name: 'idempotent', scopes: ['devices:read'] }) {
  return callWorker('/v1/api-keys', {
    method: 'POST',
    headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
    body: JSON.stringify(body),
  });
}

async function keysNamed(tenant: Tenant, name: string): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE org_id = ?1 AND name = ?2')
    .bind(tenant.orgId, name)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe('Idempotency-Key', () => {
  it('replays the first response — status, body, Location — with Idempotent-Replayed, and creates once', async () => {
    const tenant = await createTenant();
    const first = await createKey(tenant, 'replay-1');
    const firstBody = await first.text();
    expect(first.status).toBe(201);
    expect(first.headers.get('Idempotent-Replayed')).toBeNull();
    const second = await createKey(tenant, 'replay-1');
    expect(second.status).toBe(201);
    expect(second.headers.get('Idempotent-Replayed')).toBe('true');
    expect(second.headers.get('Location')).toBe(first.headers.get('Location'));
    expect(second.headers.get('Content-Type')).toBe(first.headers.get('Content-Type'));
    expect(await second.text()).toBe(firstBody);
    expect(await keysNamed(tenant, 'idempotent')).toBe(1);
  });

  it('the same key with a different body is a 422, and changes nothing', async () => {
    const tenant = await createTenant();
    await createKey(tenant, 'reused');
    const response = await createKey(tenant, 'reused', { name: 'different', scopes: ['devices:read'] });
    await expectProblem(response, 422, 'idempotency_key_reused');
    expect(await keysNamed(tenant, 'different')).toBe(0);
  });

  it('keys are per organisation: another organisation may use the same key', async () => {
    const alpha = await createTenant();
    const beta = await createTenant();
    expect((await createKey(alpha, 'shared')).status).toBe(201);
    const response = await createKey(beta, 'shared');
    expect(response.status).toBe(201);
    expect(response.headers.get('Idempotent-Replayed')).toBeNull();
  });

  it('N concurrent requests with one key execute the handler once; the others get 409 or the replay', async () => {
    const tenant = await createTenant();
    const responses = await Promise.all(Array.from({ length: 10 }, () => createKey(tenant, 'concurrent')));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
    const created = new Set<string | null>();
    for (const response of responses) {
      if (response.status === 201) created.add(response.headers.get('Location'));
      else {
        expect(response.headers.get('Retry-After')).toBe('1');
        await expectProblem(response, 409, 'idempotency_key_in_use');
      }
    }
    expect(created.size).toBe(1);
    expect(await keysNamed(tenant, 'idempotent')).toBe(1);
  });

  it('a request that failed validation saves nothing: the same key then works with a valid body', async () => {
    const tenant = await createTenant();
    await expectProblem(await createKey(tenant, 'after-400', { name: '', scopes: ['devices:read'] }), 400, 'validation_failed');
    expect((await createKey(tenant, 'after-400')).status).toBe(201);
  });

  it("a refusal by the handler is the request's result and is replayed", async () => {
    const tenant = await createTenant();
    const target = await tenant.addKey();
    const rotate = () =>
      callWorker(`/v1/api-keys/${target.id}/rotate`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'refused' },
        body: JSON.stringify({ grace_period_seconds: 60 }),
      });
    await tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: target.id } }, body: { grace_period_seconds: 60 } });
    const first = await rotate();
    const firstText = await first.clone().text();
    await expectProblem(first, 409, 'key_already_rotated');
    const replay = await rotate();
    expect(replay.status).toBe(409);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(replay.headers.get('Content-Type')).toBe('application/problem+json');
    // The very same document, the first request's request_id included, as a replay should be.
    expect(await replay.text()).toBe(firstText);
  });

  it('a refusal by an authorisation check is never saved: it is made again on every request', async () => {
    const tenant = await createTenant({ scopes: ['keys:admin'] });
    const body = { name: 'too much', scopes: ['audit:read'] };
    await expectProblem(await createKey(tenant, 'refused', body), 403, 'insufficient_scope');
    const again = await createKey(tenant, 'refused', body);
    await expectProblem(again, 403, 'insufficient_scope');
    expect(again.headers.get('Idempotent-Replayed')).toBeNull();
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE org_id = ?1 AND key = 'refused'")
      .bind(tenant.orgId)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it('an abandoned in-flight claim (its request died) can be taken over once its lock expires', async () => {
    const tenant = await createTenant();
    expect((await createKey(tenant, 'abandoned')).status).toBe(201);
    await env.DB.prepare(
      "UPDATE idempotency_keys SET state = 'in_flight', locked_until = '2000-01-01T00:00:00.000Z', response_status = NULL WHERE org_id = ?1 AND key = 'abandoned'",
    )
      .bind(tenant.orgId)
      .run();
    const retried = await createKey(tenant, 'abandoned');
    expect(retried.status).toBe(201);
    expect(retried.headers.get('Idempotent-Replayed')).toBeNull();
  });

  it('a key older than 24 hours is forgotten', async () => {
    const tenant = await createTenant();
    expect((await createKey(tenant, 'old')).status).toBe(201);
    await env.DB.prepare("UPDATE idempotency_keys SET expires_at = '2000-01-01T00:00:00.000Z' WHERE org_id = ?1").bind(tenant.orgId).run();
    const again = await createKey(tenant, 'old');
    expect(again.status).toBe(201);
    expect(again.headers.get('Idempotent-Replayed')).toBeNull();
    expect(await keysNamed(tenant, 'idempotent')).toBe(2);
  });

  it.each([
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['with a space', 'has space'],
  ])('refuses a malformed key (%s) with 400', async (_, key) => {
    const tenant = await createTenant();
    const problem = await expectProblem(await createKey(tenant, key), 400, 'validation_failed');
    expect(problem.errors?.[0]).toMatchObject({ location: 'header' });
  });

  it('requests without the header are not deduplicated', async () => {
    const tenant = await createTenant();
    await tenant.api.POST('/v1/api-keys', { body: { name: 'plain', scopes: ['devices:read'] } });
    await tenant.api.POST('/v1/api-keys', { body: { name: 'plain', scopes: ['devices:read'] } });
    expect(await keysNamed(tenant, 'plain')).toBe(2);
  });
});
