/**
 * Secrets at rest: after the operations that hand out credentials (create and rotate an API key,
 * mint a connect token, create a webhook endpoint and rotate its signing secret), every row of every
 * D1 table is read raw, and no secret or token, nor a 16-character piece of one, is found. Saved
 * idempotent responses are sealed, and one that cannot be opened is a 409 problem, never a 500 and
 * never the stored bytes.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { expectProblem } from '../helpers/problem.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { callWorker } from '../helpers/worker.ts';

/** Every row of every table, as text. */
async function dumpDatabase(): Promise<string> {
  const { results: tables } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
  ).all<{ name: string }>();
  expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['api_keys', 'idempotency_keys', 'audit_events']));
  const dumps = await Promise.all(
    tables.map(async ({ name }) => JSON.stringify((await env.DB.prepare(`SELECT * FROM "${name}"`).all()).results)),
  );
  return dumps.join('\n');
}

/** Every 16-character piece of `secret` (a key's public prefix is 12). */
function piecesOf(secret: string): string[] {
  return Array.from({ length: secret.length - 15 }, (_, start) => secret.slice(start, start + 16));
}

function post(tenant: Tenant, path: string, body: unknown, idempotencyKey: string, overrides: Record<string, unknown> = {}) {
  return callWorker(
    path,
    {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
      body: JSON.stringify(body),
    },
    overrides,
  );
}

async function storedBody(tenant: Tenant, key: string): Promise<string | null> {
  const row = await env.DB.prepare('SELECT response_body FROM idempotency_keys WHERE org_id = ?1 AND key = ?2')
    .bind(tenant.orgId, key)
    .first<{ response_body: string | null }>();
  return row?.response_body ?? null;
}

describe('no secret or token sits in D1', () => {
  it('after key create, rotate, token mint, device create, endpoint create and secret rotation, under idempotency keys', async () => {
    const tenant = await createTenant();
    const created = await post(tenant, '/v1/api-keys', { name: 'scan', scopes: ['devices:read'] }, 'scan-create');
    const createdKey = (await created.json()) as { id: string; secret: string };
    const rotated = await post(tenant, `/v1/api-keys/${createdKey.id}/rotate`, { grace_period_seconds: 60 }, 'scan-rotate');
    const rotatedKey = (await rotated.json()) as { secret: string };
    const session = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
    const minted = await post(tenant, `/v1/sessions/${session}/tokens`, { participant: 'client:scan' }, 'scan-mint');
    const { token } = (await minted.json()) as { token: string };
    expect(await post(tenant, '/v1/devices', { name: 'scanned', kind: 'iot' }, 'scan-device').then((r) => r.status)).toBe(201);
    const endpoint = await post(tenant, '/v1/webhook-endpoints', { url: 'https://hooks.example.com/scan' }, 'scan-endpoint');
    const createdEndpoint = (await endpoint.json()) as { id: string; secret: string };
    const rotatedEndpoint = await post(tenant, `/v1/webhook-endpoints/${createdEndpoint.id}/rotate-secret`, {}, 'scan-endpoint-rotate');
    const rotatedSecret = ((await rotatedEndpoint.json()) as { secret: string }).secret;
    expect([created.status, rotated.status, minted.status, endpoint.status, rotatedEndpoint.status]).toEqual([201, 201, 201, 201, 200]);

    const dump = await dumpDatabase();
    for (const secret of [createdKey.secret, rotatedKey.secret, token, tenant.key.secret, createdEndpoint.secret, rotatedSecret]) {
      for (const piece of piecesOf(secret)) expect(dump, 'a piece of a credential is stored').not.toContain(piece);
    }
    expect(dump).not.toMatch(/sy_(live|test)_[0-9A-Za-z]{13,}/);
    expect(dump).not.toMatch(/eyJ[\w-]{10,}\.eyJ/);
    expect(dump).not.toMatch(/whsec_[A-Za-z0-9+/]{10,}/);
    for (const key of ['scan-create', 'scan-rotate', 'scan-mint', 'scan-device', 'scan-endpoint', 'scan-endpoint-rotate']) {
      expect(await storedBody(tenant, key)).toMatch(/^v1\./);
    }

    // Sealed is not lost: each replays the very response it saved.
    const replayed = await post(tenant, `/v1/sessions/${session}/tokens`, { participant: 'client:scan' }, 'scan-mint');
    expect(replayed.headers.get('Idempotent-Replayed')).toBe('true');
    expect(((await replayed.json()) as { token: string }).token).toBe(token);
  });
});

describe('a saved response that cannot be opened', () => {
  async function firstRequest(idempotencyKey: string) {
    const tenant = await createTenant();
    const body = { name: 'sealed', scopes: ['devices:read'] };
    expect((await post(tenant, '/v1/api-keys', body, idempotencyKey)).status).toBe(201);
    return { tenant, body };
  }

  async function expectUnreadable(response: Response) {
    const text = await response.clone().text();
    const problem = await expectProblem(response, 409, 'idempotency_record_unreadable');
    expect(problem.detail).toMatch(/can no longer be read/);
    expect(text).not.toMatch(/v1\.|sy_test_/);
  }

  it('altered in storage is a 409, and runs nothing again', async () => {
    const { tenant, body } = await firstRequest('tampered');
    const sealed = (await storedBody(tenant, 'tampered')) ?? '';
    const flipped = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    await env.DB.prepare('UPDATE idempotency_keys SET response_body = ?3 WHERE org_id = ?1 AND key = ?2')
      .bind(tenant.orgId, 'tampered', flipped)
      .run();
    await expectUnreadable(await post(tenant, '/v1/api-keys', body, 'tampered'));
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE org_id = ?1 AND name = 'sealed'")
      .bind(tenant.orgId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it('moved from another row is a 409: a sealed body opens only where it was stored', async () => {
    const { tenant, body } = await firstRequest('moved-to');
    expect((await post(tenant, '/v1/api-keys', { name: 'other', scopes: ['devices:read'] }, 'moved-from')).status).toBe(201);
    await env.DB.prepare(
      `UPDATE idempotency_keys SET response_body = (SELECT response_body FROM idempotency_keys WHERE org_id = ?1 AND key = 'moved-from')
        WHERE org_id = ?1 AND key = 'moved-to'`,
    )
      .bind(tenant.orgId)
      .run();
    await expectUnreadable(await post(tenant, '/v1/api-keys', body, 'moved-to'));
  });

  it('erased by the migration that sealed bodies (a completed row without a body) is a 409', async () => {
    const { tenant, body } = await firstRequest('erased');
    await env.DB.prepare("UPDATE idempotency_keys SET response_body = NULL WHERE org_id = ?1 AND key = 'erased'").bind(tenant.orgId).run();
    await expectUnreadable(await post(tenant, '/v1/api-keys', body, 'erased'));
  });

  it('sealed under a secret no longer configured is a 409; listed as previous it still opens', async () => {
    const { tenant, body } = await firstRequest('rotated-secret');
    const next = { STORAGE_ENCRYPTION_SECRET: 'the-next-storage-secret-0123456789abcdefgh' };
    await expectUnreadable(await post(tenant, '/v1/api-keys', body, 'rotated-secret', next));
    const rotating = await post(tenant, '/v1/api-keys', body, 'rotated-secret', {
      ...next,
      STORAGE_ENCRYPTION_PREVIOUS_SECRETS: env.STORAGE_ENCRYPTION_SECRET,
    });
    expect(rotating.status).toBe(201);
    expect(rotating.headers.get('Idempotent-Replayed')).toBe('true');
  });
});
