/**
 * @module
 * The `webhook_endpoints` table. Every query is scoped by organisation; writes that depend on what
 * was read are conditional on `version`. Secrets arrive here sealed (routes/webhook-endpoints/
 * secrets.ts) and are stored as they came.
 */
import type { CursorPosition } from '../lib/cursor.ts';
import type { WebhookEventType } from '../schemas/webhook-events.ts';
import { type Page, readPage } from './page.ts';

export interface WebhookEndpointRecord {
  id: string;
  orgId: string;
  url: string;
  description: string;
  /** null: every event type. */
  eventTypes: WebhookEventType[] | null;
  enabled: boolean;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretExpiresAt: string | null;
  /** When its deliveries began failing without a success since; null while healthy. */
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

interface WebhookEndpointRow {
  id: string;
  org_id: string;
  url: string;
  description: string;
  event_types: string | null;
  enabled: number;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

function toRecord(row: WebhookEndpointRow): WebhookEndpointRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types === null ? null : (JSON.parse(row.event_types) as WebhookEventType[]),
    enabled: row.enabled === 1,
    secretSealed: row.secret_sealed,
    previousSecretSealed: row.previous_secret_sealed,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    failingSince: row.failing_since,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

/**
 * Inserts the endpoint unless the organisation has `limit` endpoints already: the count and the
 * insert are one statement, so two concurrent creations cannot both pass the limit. It changes no
 * row when the limit is reached.
 */
export function insertWebhookEndpoint(db: D1Database, endpoint: WebhookEndpointRecord, limit: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO webhook_endpoints (id, org_id, url, description, event_types, enabled, secret_sealed, previous_secret_sealed,
                                      previous_secret_expires_at, created_at, updated_at, version)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
        WHERE (SELECT count(*) FROM webhook_endpoints WHERE org_id = ?2) < ?13`,
    )
    .bind(
      endpoint.id,
      endpoint.orgId,
      endpoint.url,
      endpoint.description,
      endpoint.eventTypes === null ? null : JSON.stringify(endpoint.eventTypes),
      endpoint.enabled ? 1 : 0,
      endpoint.secretSealed,
      endpoint.previousSecretSealed,
      endpoint.previousSecretExpiresAt,
      endpoint.createdAt,
      endpoint.updatedAt,
      endpoint.version,
      limit,
    );
}

export async function getWebhookEndpoint(db: D1Database, orgId: string, id: string): Promise<WebhookEndpointRecord | undefined> {
  const row = await db.prepare('SELECT * FROM webhook_endpoints WHERE org_id = ?1 AND id = ?2').bind(orgId, id).first<WebhookEndpointRow>();
  return row ? toRecord(row) : undefined;
}

/** Writes `endpoint` over the stored row if it is still at `expectedVersion`; changes no row otherwise. */
export function updateWebhookEndpoint(db: D1Database, endpoint: WebhookEndpointRecord, expectedVersion: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_endpoints
          SET url = ?4, description = ?5, event_types = ?6, enabled = ?7, secret_sealed = ?8, previous_secret_sealed = ?9,
              previous_secret_expires_at = ?10, updated_at = ?11, version = ?12,
              -- Enabled again, or pointed elsewhere: its failures so far no longer count towards disabling it.
              failing_since = CASE WHEN (?7 = 1 AND enabled = 0) OR url <> ?4 THEN NULL ELSE failing_since END
        WHERE org_id = ?1 AND id = ?2 AND version = ?3`,
    )
    .bind(
      endpoint.orgId,
      endpoint.id,
      expectedVersion,
      endpoint.url,
      endpoint.description,
      endpoint.eventTypes === null ? null : JSON.stringify(endpoint.eventTypes),
      endpoint.enabled ? 1 : 0,
      endpoint.secretSealed,
      endpoint.previousSecretSealed,
      endpoint.previousSecretExpiresAt,
      endpoint.updatedAt,
      endpoint.version,
    );
}

/** Deletes the endpoint, at `expectedVersion` when given. */
export function deleteWebhookEndpoint(db: D1Database, orgId: string, id: string, expectedVersion?: number): D1PreparedStatement {
  return db
    .prepare('DELETE FROM webhook_endpoints WHERE org_id = ?1 AND id = ?2 AND (?3 IS NULL OR version = ?3)')
    .bind(orgId, id, expectedVersion ?? null);
}

export function listWebhookEndpoints(
  db: D1Database,
  orgId: string,
  limit: number,
  after: CursorPosition | undefined,
): Promise<Page<WebhookEndpointRecord>> {
  return readPage(db, { select: 'SELECT * FROM webhook_endpoints WHERE org_id = ?1', params: [orgId], limit, after }, toRecord);
}

/** Rows {@link clearExpiredPreviousSecrets} and {@link endpointsSealedWithOtherKeys} take per statement. */
export const WEBHOOK_SECRET_UPKEEP_BATCH_ROWS = 500;

/** Forgets the secrets a rotation replaced once their overlap is over; returns how many it forgot. */
export async function clearExpiredPreviousSecrets(db: D1Database, at: string): Promise<number> {
  const result = await db
    .prepare(
      `UPDATE webhook_endpoints SET previous_secret_sealed = NULL, previous_secret_expires_at = NULL
        WHERE id IN (SELECT id FROM webhook_endpoints WHERE previous_secret_expires_at <= ?1 LIMIT ?2)`,
    )
    .bind(at, WEBHOOK_SECRET_UPKEEP_BATCH_ROWS)
    .run();
  return result.meta.changes;
}

export interface SealedSecrets {
  id: string;
  orgId: string;
  secretSealed: string;
  previousSecretSealed: string | null;
}

/** Endpoints with a secret sealed under another key than the one whose sealed values start with `currentPrefix`. */
export async function endpointsSealedWithOtherKeys(db: D1Database, currentPrefix: string): Promise<SealedSecrets[]> {
  const { results } = await db
    .prepare(
      `SELECT id, org_id, secret_sealed, previous_secret_sealed FROM webhook_endpoints
        WHERE substr(secret_sealed, 1, length(?1)) != ?1
           OR (previous_secret_sealed IS NOT NULL AND substr(previous_secret_sealed, 1, length(?1)) != ?1)
        LIMIT ?2`,
    )
    .bind(currentPrefix, WEBHOOK_SECRET_UPKEEP_BATCH_ROWS)
    .all<{ id: string; org_id: string; secret_sealed: string; previous_secret_sealed: string | null }>();
  return results.map((row) => ({
    id: row.id,
    orgId: row.org_id,
    secretSealed: row.secret_sealed,
    previousSecretSealed: row.previous_secret_sealed,
  }));
}

/**
 * Replaces an endpoint's sealed secrets with the same secrets sealed anew, if they are still `from`:
 * a rotation in between wins. Not a change of the endpoint (its version and times stay).
 */
export function replaceSealedSecrets(
  db: D1Database,
  from: SealedSecrets,
  to: Pick<SealedSecrets, 'secretSealed' | 'previousSecretSealed'>,
) {
  return db
    .prepare(
      `UPDATE webhook_endpoints SET secret_sealed = ?3, previous_secret_sealed = ?4
        WHERE org_id = ?1 AND id = ?2 AND secret_sealed = ?5 AND previous_secret_sealed IS ?6`,
    )
    .bind(from.orgId, from.id, to.secretSealed, to.previousSecretSealed, from.secretSealed, from.previousSecretSealed);
}

/** The organisation's enabled endpoints: those an event is dispatched to, when subscribed to its type. */
export async function enabledEndpoints(db: D1Database, orgId: string): Promise<WebhookEndpointRecord[]> {
  const { results } = await db
    .prepare('SELECT * FROM webhook_endpoints WHERE org_id = ?1 AND enabled = 1')
    .bind(orgId)
    .all<WebhookEndpointRow>();
  return results.map(toRecord);
}

/** A failed attempt: the endpoint is failing since now, unless it was already. */
export function recordEndpointFailure(db: D1Database, orgId: string, id: string, at: string): D1PreparedStatement {
  return db
    .prepare('UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?3) WHERE org_id = ?1 AND id = ?2')
    .bind(orgId, id, at);
}

/** A successful attempt: the endpoint is healthy again. */
export function recordEndpointSuccess(db: D1Database, orgId: string, id: string): D1PreparedStatement {
  return db
    .prepare('UPDATE webhook_endpoints SET failing_since = NULL WHERE org_id = ?1 AND id = ?2 AND failing_since IS NOT NULL')
    .bind(orgId, id);
}

/**
 * Disables the endpoint if it is still enabled and has been failing since `failingBefore` or
 * earlier; changes no row otherwise (it recovered, or was disabled or changed meanwhile).
 */
export function disableFailingEndpoint(
  db: D1Database,
  endpoint: WebhookEndpointRecord,
  failingBefore: string,
  at: string,
): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE webhook_endpoints SET enabled = 0, updated_at = ?4, version = version + 1
        WHERE org_id = ?1 AND id = ?2 AND enabled = 1 AND version = ?5 AND failing_since IS NOT NULL AND failing_since <= ?3`,
    )
    .bind(endpoint.orgId, endpoint.id, failingBefore, at, endpoint.version);
}
