/**
 * @module
 * The `organizations` table.
 */
import { nowIso } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import type { Plan } from '../schemas/plans.ts';

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

/** The INSERT for an organisation, as SQL and its parameters (shared with the bootstrap script). */
export function insertOrganizationSql(org: NewOrganization): { sql: string; params: Array<string | number> } {
  const limits = PLAN_LIMITS[org.plan];
  return {
    sql: 'INSERT INTO organizations (id, name, plan, rate_limit_read, rate_limit_write, rate_limit_token, is_demo, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)',
    params: [org.id, org.name, org.plan, limits.read, limits.write, limits.token, org.isDemo ? 1 : 0, org.createdAt],
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
