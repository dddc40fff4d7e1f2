import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { insertApiKey } from '../../../src/db/api-keys.ts';
import { insertAuditEvent } from '../../../src/db/audit-events.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant } from '../../helpers/tenants.ts';

describe('GET /v1/audit-events', () => {
  it('records every key change with actor, request id, hashed IP and user agent', async () => {
    const tenant = await createTenant();
    const created = await tenant.api.POST('/v1/api-keys', {
      body: { name: 'audited', scopes: ['devices:read'] },
      headers: { 'User-Agent': 'audit-test/1.0', 'CF-Connecting-IP': '192.0.2.10' },
    });
    const id = created.data?.id ?? '';
    await tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id } }, body: { grace_period_seconds: 60 } });
    await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id } } });

    const { data } = await tenant.api.GET('/v1/audit-events', { params: { query: { target_type: 'api_key', target_id: id } } });
    expect(data?.data.map((event) => event.action)).toEqual(['api_key.created', 'api_key.rotated', 'api_key.revoked']);
    const [first] = data?.data ?? [];
    expect(first).toMatchObject({ actor_key_id: tenant.key.id, target_type: 'api_key', target_id: id, user_agent: 'audit-test/1.0' });
    expect(first?.request_id).toBe(created.response.headers.get('X-Request-Id'));
    expect(first?.ip_hash).toMatch(/^[0-9a-f]{32}$/);
    const stored = await env.DB.prepare('SELECT * FROM audit_events WHERE org_id = ?1').bind(tenant.orgId).all();
    expect(JSON.stringify(stored.results)).not.toContain('192.0.2.10');
  });

  it('filters by action and time range, and pages', async () => {
    const tenant = await createTenant();
    const start = new Date().toISOString();
    for (let index = 0; index < 5; index += 1)
      await tenant.api.POST('/v1/api-keys', { body: { name: `k${index}`, scopes: ['devices:read'] } });
    const created = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'api_key.created', since: start, limit: 2 } } });
    expect(created.data?.data).toHaveLength(2);
    const next = await tenant.api.GET('/v1/audit-events', {
      params: { query: { action: 'api_key.created', cursor: created.data?.next_cursor ?? '' } },
    });
    expect(next.data?.data).toHaveLength(3);
    expect(next.data?.next_cursor).toBeNull();
    const revoked = await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'api_key.revoked' } } });
    expect(revoked.data?.data).toEqual([]);
    const before = await tenant.api.GET('/v1/audit-events', { params: { query: { until: start } } });
    expect(before.data?.data).toEqual([]);
  });

  it('refuses an unknown action and a malformed time', async () => {
    const tenant = await createTenant();
    const url = '/v1/audit-events';
    // The typed client would not let these through; send them as a careless caller would.
    const unknownAction = await tenant.api.GET(url, { params: { query: { action: 'key.stolen' as 'api_key.created' } } });
    await expectProblem(unknownAction, 400, 'validation_failed');
    const badTime = await tenant.api.GET(url, { params: { query: { since: 'yesterday' } } });
    await expectProblem(badTime, 400, 'validation_failed');
  });

  it('a change and its audit event are written together: a failed change leaves no event', async () => {
    const tenant = await createTenant();
    const before = await env.DB.prepare('SELECT COUNT(*) AS n FROM audit_events WHERE org_id = ?1')
      .bind(tenant.orgId)
      .first<{ n: number }>();
    // A duplicate primary key makes the batch's INSERT fail, so the whole batch must roll back.
    const existing = await tenant.addKey();
    const duplicate = insertApiKey(env.DB, {
      id: existing.id,
      orgId: tenant.orgId,
      name: 'dup',
      mode: 'test',
      prefix: 'sy_test_dup0',
      hash: 'not-a-real-hash',
      scopes: ['devices:read'],
      expiresAt: null,
      createdAt: new Date().toISOString(),
      createdBy: null,
      lastUsedAt: null,
      rotatedTo: null,
    });
    const audit = insertAuditEvent(
      env.DB,
      { orgId: tenant.orgId, actorKeyId: null, requestId: 'req_test', ipHash: null, userAgent: null },
      { action: 'api_key.created', targetType: 'api_key', targetId: existing.id, at: new Date().toISOString() },
    );
    await expect(env.DB.batch([audit, duplicate])).rejects.toThrow();
    const after = await env.DB.prepare('SELECT COUNT(*) AS n FROM audit_events WHERE org_id = ?1')
      .bind(tenant.orgId)
      .first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });
});
