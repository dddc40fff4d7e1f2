/**
 * @module
 * The `api_keys` table. Keys are found by the SHA-256 of the secret; every other query is scoped
 * by organisation, and revoked keys are invisible to all of them.
 */
import type { KeyMode } from '../lib/api-key.ts';
import type { CursorPosition } from '../lib/cursor.ts';
import type { Plan } from '../schemas/plans.ts';
import type { Scope } from '../schemas/scopes.ts';
import { type ApiVersion, isApiVersion, NEWEST_API_VERSION } from '../versions/versions.ts';
import { type Page, readPage } from './page.ts';

interface ApiKeyRow {
  id: string;
  org_id: string;
  name: string;
  mode: KeyMode;
  prefix: string;
  scopes: string;
  expires_at: string | null;
  created_at: string;
  created_by: string | null;
  last_used_at: string | null;
  rotated_to: string | null;
}

export interface ApiKeyRecord {
  id: string;
  orgId: string;
  name: string;
  mode: KeyMode;
  prefix: string;
  scopes: Scope[];
  expiresAt: string | null;
  createdAt: string;
  createdBy: string | null;
  lastUsedAt: string | null;
  /** The key that replaced this one, once rotated. */
  rotatedTo: string | null;
}

const VISIBLE_COLUMNS = 'id, org_id, name, mode, prefix, scopes, expires_at, created_at, created_by, last_used_at, rotated_to';

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    mode: row.mode,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as Scope[],
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    rotatedTo: row.rotated_to,
  };
}

/** What authentication needs about a key and its organisation, in one read. */
export interface KeyCredentials {
  keyId: string;
  orgId: string;
  mode: KeyMode;
  scopes: Scope[];
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  isDemo: boolean;
  /** Whether its organisation is being erased (DELETE /v1/organization): every key of it is refused. */
  organizationErased: boolean;
  plan: Plan;
  limits: { read: number; write: number; token: number };
  /** Whether the organisation requires signed requests for its sensitive operations (middleware/request-signature.ts). */
  requireSignedRequests: boolean;
  /** The organisation's default API version. */
  apiVersion: ApiVersion;
}

export async function findCredentialsByHash(db: D1Database, hash: string): Promise<KeyCredentials | undefined> {
  const row = await db
    .prepare(
      `SELECT k.id, k.org_id, k.mode, k.scopes, k.expires_at, k.revoked_at, k.last_used_at,
              o.is_demo, o.erased_at, o.plan, o.rate_limit_read, o.rate_limit_write, o.rate_limit_token, o.require_signed_requests, o.api_version
         FROM api_keys k JOIN organizations o ON o.id = k.org_id
        WHERE k.hash = ?1`,
    )
    .bind(hash)
    .first<{
      id: string;
      org_id: string;
      mode: KeyMode;
      scopes: string;
      expires_at: string | null;
      revoked_at: string | null;
      last_used_at: string | null;
      is_demo: number;
      erased_at: string | null;
      plan: Plan;
      rate_limit_read: number;
      rate_limit_write: number;
      rate_limit_token: number;
      require_signed_requests: number;
      api_version: string;
    }>();
  if (!row) return undefined;
  return {
    keyId: row.id,
    orgId: row.org_id,
    mode: row.mode,
    scopes: JSON.parse(row.scopes) as Scope[],
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    isDemo: row.is_demo === 1,
    organizationErased: row.erased_at !== null,
    plan: row.plan,
    limits: { read: row.rate_limit_read, write: row.rate_limit_write, token: row.rate_limit_token },
    requireSignedRequests: row.require_signed_requests === 1,
    // A version this code no longer knows (a row written by a newer release rolled back) reads as the newest.
    apiVersion: isApiVersion(row.api_version) ? row.api_version : NEWEST_API_VERSION,
  };
}

export interface NewApiKey extends ApiKeyRecord {
  hash: string;
}

/** The INSERT for a key, as SQL and its parameters (shared with the bootstrap script). */
export function insertApiKeySql(key: NewApiKey): { sql: string; params: Array<string | null> } {
  return {
    sql: `INSERT INTO api_keys (id, org_id, name, mode, prefix, hash, scopes, expires_at, created_at, created_by)
          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
    params: [
      key.id,
      key.orgId,
      key.name,
      key.mode,
      key.prefix,
      key.hash,
      JSON.stringify(key.scopes),
      key.expiresAt,
      key.createdAt,
      key.createdBy,
    ],
  };
}

export function insertApiKey(db: D1Database, key: NewApiKey): D1PreparedStatement {
  const { sql, params } = insertApiKeySql(key);
  return db.prepare(sql).bind(...params);
}

/**
 * Inserts a rotation's new key only if the old key was just retired in its favour (by
 * retireRotatedKey earlier in the same batch), so a concurrent revocation leaves no orphan key.
 */
export function insertReplacementApiKey(db: D1Database, key: NewApiKey, replacedId: string): D1PreparedStatement {
  const { params } = insertApiKeySql(key);
  return db
    .prepare(
      `INSERT INTO api_keys (id, org_id, name, mode, prefix, hash, scopes, expires_at, created_at, created_by)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
        WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?11 AND rotated_to = ?1)`,
    )
    .bind(...params, replacedId);
}

export async function getApiKey(db: D1Database, orgId: string, id: string): Promise<ApiKeyRecord | undefined> {
  const row = await db
    .prepare(`SELECT ${VISIBLE_COLUMNS} FROM api_keys WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL`)
    .bind(orgId, id)
    .first<ApiKeyRow>();
  return row ? toRecord(row) : undefined;
}

/**
 * The statement reading whether a key still stands behind what it minted, for a batch (connect reads
 * it for the key that minted the token); {@link apiKeyInForceOf} reads its result.
 */
export function selectApiKeyStanding(db: D1Database, orgId: string, id: string): D1PreparedStatement {
  return db.prepare('SELECT expires_at FROM api_keys WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL').bind(orgId, id);
}

/** Whether the key read by {@link selectApiKeyStanding} is in force at `now`: found (so not revoked) and not expired. */
export function apiKeyInForceOf(result: D1Result | undefined, now: string): boolean {
  const row = result?.results[0] as { expires_at: string | null } | undefined;
  return row !== undefined && (row.expires_at === null || row.expires_at > now);
}

export function listApiKeys(db: D1Database, orgId: string, limit: number, after: CursorPosition | undefined): Promise<Page<ApiKeyRecord>> {
  const select = `SELECT ${VISIBLE_COLUMNS} FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL`;
  return readPage(db, { select, params: [orgId], limit, after }, toRecord);
}

/** Revokes a visible key; `changes` is 0 when there was none (the audit insert after it checks that). */
export function revokeApiKey(db: D1Database, orgId: string, id: string, now: string): D1PreparedStatement {
  return db.prepare('UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL').bind(orgId, id, now);
}

/**
 * After a rotation, the old key works until `until` (never longer than it would have): with a
 * zero grace period it expires at once. It stays visible (expired) until it is revoked.
 */
export function retireRotatedKey(db: D1Database, orgId: string, id: string, replacementId: string, until: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE api_keys
          SET rotated_to = ?3,
              expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < ?4 THEN expires_at ELSE ?4 END
        WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL AND rotated_to IS NULL`,
    )
    .bind(orgId, id, replacementId, until);
}

/** Stamps last use unless it was stamped less than a minute before `now`. */
export function stampLastUsed(db: D1Database, id: string, now: string, notSince: string): D1PreparedStatement {
  return db
    .prepare('UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)')
    .bind(id, now, notSince);
}

/**
 * Revokes every key of the organisation in one statement, for its erasure: only in the batch that
 * marked it erased at `at` (db/organizations.ts markOrganizationErased), so a refused erasure revokes nothing.
 */
export function revokeOrganizationKeys(db: D1Database, orgId: string, at: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE api_keys SET revoked_at = ?2
        WHERE org_id = ?1 AND revoked_at IS NULL
          AND EXISTS (SELECT 1 FROM organizations WHERE id = ?1 AND erased_at = ?2)`,
    )
    .bind(orgId, at);
}
