/**
 * @module
 * The `organizations` table.
 */
import { nowIso } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import type { Plan } from '../schemas/plans.ts';
import { type ApiVersion, isApiVersion, NEWEST_API_VERSION } from '../versions/versions.ts';

/** Requests per minute for each rate-limit class, copied onto an organisation when it is created. */
export const PLAN_LIMITS: Record<Plan, { read: number; write: number; token: number }> = {
  free: { read: 600, write: 120, token: 60 },
  pro: { read: 6_000, write: 1_200, token: 600 },
  enterprise: { read: 60_000, write: 12_000, token: 6_000 },
  unlimited: { read: 1_000_000_000, write: 1_000_000_000, token: 1_000_000_000 },
};

/**
 * Days an audit event is kept, by the organisation's current plan (a plan change applies to the
 * events already stored). `unlimited` lifts rate limits, not retention: it keeps what enterprise
 * keeps, 400 days (a yearly audit plus a month's slack), since no plan promises more and the
 * events hold personal data (IP hashes, user agents) that should not be kept for ever.
 */
export const AUDIT_RETENTION_DAYS: Record<Plan, number> = {
  free: 7,
  pro: 90,
  enterprise: 400,
  unlimited: 400,
};

/**
 * How much of a session's message history its room keeps, by the plan the organisation had when
 * the session was opened (whichever limit is reached first). Like audit retention, `unlimited`
 * keeps what enterprise keeps.
 */
export const HISTORY_RETENTION: Record<Plan, { days: number; messages: number }> = {
  free: { days: 1, messages: 10_000 },
  pro: { days: 7, messages: 100_000 },
  enterprise: { days: 30, messages: 1_000_000 },
  unlimited: { days: 30, messages: 1_000_000 },
};

export interface NewOrganization {
  id: string;
  name: string;
  plan: Plan;
  isDemo: boolean;
  createdAt: string;
}

export function newOrganization(name: string, plan: Plan, isDemo = false): NewOrganization {
  return { id: newId('organization'), name, plan, isDemo, createdAt: nowIso() };
}

/**
 * The INSERT for an organisation, as SQL and its parameters (shared with the bootstrap script): it
 * is pinned to the newest API version, which its requests without `Switchyard-Version` get.
 */
export function insertOrganizationSql(org: NewOrganization): { sql: string; params: Array<string | number> } {
  const limits = PLAN_LIMITS[org.plan];
  return {
    sql: 'INSERT INTO organizations (id, name, plan, rate_limit_read, rate_limit_write, rate_limit_token, is_demo, created_at, api_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)',
    params: [org.id, org.name, org.plan, limits.read, limits.write, limits.token, org.isDemo ? 1 : 0, org.createdAt, NEWEST_API_VERSION],
  };
}

export function insertOrganization(db: D1Database, org: NewOrganization): D1PreparedStatement {
  const { sql, params } = insertOrganizationSql(org);
  return db.prepare(sql).bind(...params);
}

/** Whether the organisation requires signed requests for its sensitive operations (undefined: no such organisation). */
export async function requiresSignedRequests(db: D1Database, orgId: string): Promise<boolean | undefined> {
  const row = await db
    .prepare('SELECT require_signed_requests FROM organizations WHERE id = ?1')
    .bind(orgId)
    .first<{ require_signed_requests: number }>();
  return row === null ? undefined : row.require_signed_requests === 1;
}

/**
 * Sets whether the organisation requires signed requests. Turning it on happens only while the
 * organisation has a signing key that is not revoked (`changes` is 0 otherwise), so that no race
 * with a revocation can leave it requiring signatures nobody can make.
 */
export function setRequireSignedRequests(db: D1Database, orgId: string, required: boolean): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE organizations SET require_signed_requests = ?2
        WHERE id = ?1 AND (?2 = 0 OR EXISTS (SELECT 1 FROM signing_keys WHERE org_id = ?1 AND revoked_at IS NULL))`,
    )
    .bind(orgId, required ? 1 : 0);
}

/** An organisation as its own API shows it. */
export interface OrganizationRecord {
  id: string;
  name: string;
  plan: Plan;
  apiVersion: ApiVersion;
  createdAt: string;
  /** `null` until it is first changed. */
  updatedAt: string | null;
  version: number;
}

interface OrganizationRow {
  id: string;
  name: string;
  plan: Plan;
  api_version: string;
  created_at: string;
  updated_at: string | null;
  version: number;
}

export async function getOrganization(db: D1Database, id: string): Promise<OrganizationRecord | undefined> {
  const row = await db
    .prepare('SELECT id, name, plan, api_version, created_at, updated_at, version FROM organizations WHERE id = ?1')
    .bind(id)
    .first<OrganizationRow>();
  if (!row) return undefined;
  return {
    id: row.id,
    name: row.name,
    plan: row.plan,
    // As the key lookup reads it (db/api-keys.ts): a version this code does not know is the newest.
    apiVersion: isApiVersion(row.api_version) ? row.api_version : NEWEST_API_VERSION,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

/** Writes the changeable fields if the organisation is still at `expectedVersion`; `changes` is 0 when it is not. */
export function updateOrganization(db: D1Database, next: OrganizationRecord, expectedVersion: number): D1PreparedStatement {
  return db
    .prepare('UPDATE organizations SET name = ?3, api_version = ?4, updated_at = ?5, version = ?6 WHERE id = ?1 AND version = ?2')
    .bind(next.id, expectedVersion, next.name, next.apiVersion, next.updatedAt, next.version);
}

/**
 * Marks the organisation as being erased at `at`, the first statement of the erasure's batch: it
 * changes a row only if the organisation is not being erased already, and the batch's other
 * statements depend on it (they check `erased_at = at`).
 */
export function markOrganizationErased(db: D1Database, orgId: string, at: string): D1PreparedStatement {
  return db.prepare('UPDATE organizations SET erased_at = ?2 WHERE id = ?1 AND erased_at IS NULL').bind(orgId, at);
}

/** Organisations whose erasure is under way (the erasure job deletes the row last), oldest first. */
export async function organizationsBeingErased(db: D1Database, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare('SELECT id FROM organizations WHERE erased_at IS NOT NULL ORDER BY erased_at LIMIT ?1')
    .bind(limit)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

/** The organisation's own row, the erasure job's last deletion; only once it is marked erased. */
export function deleteErasedOrganization(db: D1Database, orgId: string): D1PreparedStatement {
  return db.prepare('DELETE FROM organizations WHERE id = ?1 AND erased_at IS NOT NULL').bind(orgId);
}
