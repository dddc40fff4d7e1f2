/**
 * Requests with an `Idempotency-Key`, sent raw (the replay's exact bytes and headers are what the
 * tests compare), and what the `idempotency_keys` table holds for a tenant.
 */
import { env } from 'cloudflare:workers';
import type { Tenant } from './tenants.ts';
import { callWorker } from './worker.ts';

export function postWithKey(tenant: Tenant, path: string, idempotencyKey: string, body: unknown): Promise<Response> {
  return sendWithKey(tenant, 'POST', path, idempotencyKey, body);
}

/** A request with an `Idempotency-Key`; a JSON body only when there is one (a DELETE has none). */
export function sendWithKey(
  tenant: Tenant,
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  idempotencyKey: string,
  body?: unknown,
): Promise<Response> {
  const headers: Record<string, string> = { Authorization: `Bearer ${tenant.key.secret}`, 'Idempotency-Key': idempotencyKey };
  if (body === undefined) return callWorker(path, { method, headers });
  return callWorker(path, { method, headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

export interface SavedRecord {
  state: string;
  response_status: number | null;
}

/** The saved records of a tenant, by key. */
export async function savedRecords(tenant: Tenant): Promise<Record<string, SavedRecord>> {
  const { results } = await env.DB.prepare('SELECT key, state, response_status FROM idempotency_keys WHERE org_id = ?1')
    .bind(tenant.orgId)
    .all<SavedRecord & { key: string }>();
  return Object.fromEntries(results.map(({ key, ...record }) => [key, record]));
}

/** Makes a saved record look as if it were saved more than 24 hours ago. */
export async function ageRecords(tenant: Tenant): Promise<void> {
  await env.DB.prepare("UPDATE idempotency_keys SET expires_at = '2000-01-01T00:00:00.000Z' WHERE org_id = ?1").bind(tenant.orgId).run();
}

export async function countRows(
  table: 'api_keys' | 'devices' | 'sessions' | 'audit_events' | 'webhook_endpoints' | 'events' | 'signing_keys' | 'organization_exports',
  tenant: Tenant,
  where = '1 = 1',
): Promise<number> {
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE org_id = ?1 AND ${where}`)
    .bind(tenant.orgId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}
