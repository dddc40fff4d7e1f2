/**
 * @module
 * The `signing_keys` table: the Ed25519 public keys an organisation signs its requests with (RFC
 * 9421). Every query is scoped by organisation, and revoked keys are invisible to all of them, so
 * a revoked key verifies nothing from the moment its revocation commits.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import { type Page, readPage } from './page.ts';

/** The most keys an organisation may have registered and not revoked: enough for one per signer and a rotation. */
export const MAX_SIGNING_KEYS = 10;

interface SigningKeyRow {
  id: string;
  org_id: string;
  name: string;
  public_key: string;
  created_at: string;
  created_by: string | null;
}

export interface SigningKeyRecord {
  id: string;
  orgId: string;
  name: string;
  /** The Ed25519 public key: base64url of its 32 bytes, as a JWK's `x`. */
  publicKey: string;
  createdAt: string;
  /** The API key that registered it. */
  createdBy: string | null;
}

const VISIBLE_COLUMNS = 'id, org_id, name, public_key, created_at, created_by';

function toRecord(row: SigningKeyRow): SigningKeyRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    publicKey: row.public_key,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

/** Registers a key unless the organisation already has {@link MAX_SIGNING_KEYS}; `changes` is 0 then. */
export function insertSigningKey(db: D1Database, key: SigningKeyRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO signing_keys (id, org_id, name, public_key, created_at, created_by)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6
        WHERE (SELECT count(*) FROM signing_keys WHERE org_id = ?2 AND revoked_at IS NULL) < ?7`,
    )
    .bind(key.id, key.orgId, key.name, key.publicKey, key.createdAt, key.createdBy, MAX_SIGNING_KEYS);
}

export async function getSigningKey(db: D1Database, orgId: string, id: string): Promise<SigningKeyRecord | undefined> {
  const row = await db
    .prepare(`SELECT ${VISIBLE_COLUMNS} FROM signing_keys WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL`)
    .bind(orgId, id)
    .first<SigningKeyRow>();
  return row ? toRecord(row) : undefined;
}

export function listSigningKeys(
  db: D1Database,
  orgId: string,
  limit: number,
  after: CursorPosition | undefined,
): Promise<Page<SigningKeyRecord>> {
  const select = `SELECT ${VISIBLE_COLUMNS} FROM signing_keys WHERE org_id = ?1 AND revoked_at IS NULL`;
  return readPage(db, { select, params: [orgId], limit, after }, toRecord);
}

/**
 * Revokes a visible key, unless it is the organisation's last while the organisation requires
 * signed requests (revoking it would leave no way to sign the request that turns the requirement
 * off). `changes` is 0 when it did not; {@link getSigningKey} then tells a missing key from the last one.
 */
export function revokeSigningKey(db: D1Database, orgId: string, id: string, now: string): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE signing_keys SET revoked_at = ?3
        WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL
          AND ((SELECT require_signed_requests FROM organizations WHERE id = ?1) = 0
               OR EXISTS (SELECT 1 FROM signing_keys WHERE org_id = ?1 AND id <> ?2 AND revoked_at IS NULL))`,
    )
    .bind(orgId, id, now);
}
