/// <reference types="vite/types/import-meta.d.ts" />
/**
 * Every SQL statement the Worker prepares, planned by SQLite (`EXPLAIN QUERY PLAN`) on the migrated
 * D1, so that what a query costs cannot grow with its table unnoticed. Each statement is made by
 * calling its real db function with a binding that only records what it is given; each plan must be
 * the one written here (the index, and the columns of it used), must not scan a whole table and must
 * not sort in a temporary B-tree, unless an entry below says why that is fine. The source of src/ is
 * read to find every `.prepare(`, so a statement this file does not plan fails it.
 *
 * Reading the plans: `sqlite_autoindex_<table>_N` is the index SQLite makes for the table's Nth
 * PRIMARY KEY or UNIQUE constraint in CREATE TABLE order; `SCAN json_each VIRTUAL TABLE` walks a JSON
 * array bound by the caller or held in the row, not a table; `SCAN CONSTANT ROW` is the one row of a
 * SELECT with no FROM.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import * as apiKeys from '../../src/db/api-keys.ts';
import * as auditEvents from '../../src/db/audit-events.ts';
import * as deviceConnections from '../../src/db/device-connections.ts';
import * as deviceErasures from '../../src/db/device-erasures.ts';
import * as devices from '../../src/db/devices.ts';
import * as events from '../../src/db/events.ts';
import * as idempotencyKeys from '../../src/db/idempotency-keys.ts';
import * as migrations from '../../src/db/migrations.ts';
import * as organizationErasure from '../../src/db/organization-erasure.ts';
import * as organizationExports from '../../src/db/organization-exports.ts';
import * as tombstones from '../../src/db/organization-tombstones.ts';
import * as organizations from '../../src/db/organizations.ts';
import * as sessionKeyGrants from '../../src/db/session-key-grants.ts';
import * as sessions from '../../src/db/sessions.ts';
import * as signatureNonces from '../../src/db/signature-nonces.ts';
import * as signingKeys from '../../src/db/signing-keys.ts';
import * as webhookAttempts from '../../src/db/webhook-attempts.ts';
import * as webhookDeliveries from '../../src/db/webhook-deliveries.ts';
import * as webhookEndpoints from '../../src/db/webhook-endpoints.ts';
import { EMPTY_PROGRESS } from '../../src/schemas/organization-exports.ts';
import { NEWEST_API_VERSION } from '../../src/versions/versions.ts';
import { createTenant } from '../helpers/tenants.ts';

// ---------------------------------------------------------------------------------------------
// The statements, as the db modules make them

interface RecordedStatement {
  sql: string;
  params: unknown[];
}

/** A binding that keeps the SQL and parameters of every statement prepared on it and answers each with nothing. */
function recordingD1(): { db: D1Database; statements: RecordedStatement[] } {
  const statements: RecordedStatement[] = [];
  const nothing = { results: [], success: true, meta: { changes: 0 } };
  const db = {
    prepare(sql: string) {
      const recorded: RecordedStatement = { sql, params: [] };
      statements.push(recorded);
      const statement = {
        bind(...params: unknown[]) {
          recorded.params = params;
          return statement;
        },
        first: async () => null,
        all: async () => nothing,
        run: async () => nothing,
        raw: async () => [],
      };
      return statement;
    },
  };
  // What the db modules call of a D1Database; the rest of its members are never reached here.
  return { db: db as unknown as D1Database, statements };
}

const AT = '2026-10-01T12:00:00.000Z';
const ORG = 'org_plans';
const CURSOR = { createdAt: AT, id: 'row_after' };

const DEVICE: devices.DeviceRecord = {
  id: 'dev_1',
  orgId: ORG,
  name: 'sensor',
  kind: 'iot',
  externalId: null,
  metadata: {},
  tags: [],
  status: 'active',
  lastSeenAt: null,
  createdAt: AT,
  updatedAt: AT,
  version: 1,
};
const API_KEY: apiKeys.NewApiKey = {
  id: 'key_1',
  orgId: ORG,
  name: 'server',
  mode: 'live',
  prefix: 'sy_live_',
  scopes: [],
  expiresAt: null,
  createdAt: AT,
  createdBy: null,
  lastUsedAt: null,
  rotatedTo: null,
  hash: 'hash',
};
const SESSION: sessions.SessionRecord = {
  id: 'ses_1',
  orgId: ORG,
  allowedDeviceIds: null,
  maxParticipants: 2,
  expiresAt: AT,
  endedAt: null,
  endReason: null,
  createdAt: AT,
  presenceGraceSeconds: 15,
  maxFrameBytes: 65_536,
  framesPerSecond: 50,
  historyMaxMessages: 10_000,
  historyMaxAgeSeconds: 86_400,
};
const ENDPOINT: webhookEndpoints.WebhookEndpointRecord = {
  id: 'whe_1',
  orgId: ORG,
  url: 'https://receiver.example/hooks',
  description: '',
  eventTypes: null,
  enabled: true,
  secretSealed: 'sealed',
  previousSecretSealed: null,
  previousSecretExpiresAt: null,
  failingSince: null,
  createdAt: AT,
  updatedAt: AT,
  version: 1,
};
const DELIVERY: webhookDeliveries.NewDelivery = { id: 'whd_1', orgId: ORG, endpointId: 'whe_1', eventId: 'msg_1', at: AT };
const ATTEMPT: webhookAttempts.AttemptRecord = {
  id: 'wha_1',
  orgId: ORG,
  endpointId: 'whe_1',
  deliveryId: 'whd_1',
  eventId: 'msg_1',
  attempt: 1,
  outcome: 'failed',
  statusCode: 500,
  durationMs: 12,
  nextAttemptAt: null,
  createdAt: AT,
};
const AUDIT_CONTEXT: auditEvents.AuditContext = { orgId: ORG, actorKeyId: 'key_1', requestId: 'req_1', ipHash: null, userAgent: null };
const AUDITED_CHANGE: auditEvents.AuditedChange = { action: 'device.created', targetType: 'device', targetId: 'dev_1', at: AT };
const EVENT = { id: 'msg_1', orgId: ORG, type: 'device.created', data: '{}', createdAt: AT } as const;
const ORGANIZATION_EXPORT: organizationExports.ExportRecord = {
  id: 'exp_1',
  orgId: ORG,
  status: 'queued',
  progress: EMPTY_PROGRESS,
  createdAt: AT,
  createdBy: 'key_1',
  startedAt: null,
  completedAt: null,
  expiresAt: null,
  sizeBytes: null,
  errorCode: null,
};
const IDEMPOTENT_RESULT = {
  orgId: ORG,
  key: 'idem_1',
  fingerprint: 'fingerprint',
  now: AT,
  expiresAt: AT,
  response: { status: 201, headers: {}, sealedBody: 'sealed' },
};

const SIGNING_KEY: signingKeys.SigningKeyRecord = {
  id: 'sig_1',
  orgId: ORG,
  name: 'signer',
  publicKey: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs',
  createdAt: AT,
  createdBy: 'key_1',
};

interface PlannedStatement {
  /** The module and function that make it, and which of its statements when it makes several. */
  name: string;
  /** Calls the function on a recording binding: it must prepare exactly one statement. */
  make: (db: D1Database) => unknown;
  /** The plan SQLite must choose: one line per step, indented under the step it belongs to. */
  plan: string[];
  /** The `.prepare(` that makes it, when that one builds its SQL with `${…}` or is handed it in a variable. */
  expands?: string;
  /** A page after a cursor: its search must start at the cursor, a range on the index. */
  afterCursor?: true;
  /**
   * What the plan written here costs more than it should: found and reported, and left to the
   * statement's own module to fix (the plan then changes, and so must this entry). Shown in the test's name.
   */
  knownCost?: string;
}

const PAGE = 'db/page.ts readPage';
const FILTERED_PAGE = 'db/page.ts readFilteredPage';

/**
 * The plan of a filtered page (db/page.ts readFilteredPage) on `table`: the examined rows' bound
 * from the list's covering index, the matches in the index range up to it, and the bound row by its
 * key. `filterSubqueries`: correlated subqueries of the filter (a tag's json_each), which shift the numbering.
 */
function filteredPagePlan(table: string, index: string, options: { afterCursor: boolean; filterSubqueries: 0 | 1 }): string[] {
  const cursor = options.afterCursor ? ' AND (created_at,id)>(?,?)' : '';
  const pageSubquery = 4 + options.filterSubqueries;
  return [
    'COMPOUND QUERY',
    '  LEFT-MOST SUBQUERY',
    `    CO-ROUTINE (subquery-${pageSubquery})`,
    `      SEARCH ${table} USING INDEX ${index} (org_id=?${cursor} AND (created_at,id)<(?,?))`,
    '      SCALAR SUBQUERY 2',
    '        MATERIALIZE bound',
    `          SEARCH ${table} USING COVERING INDEX ${index} (org_id=?${cursor})`,
    '        SCAN bound',
    '      SCALAR SUBQUERY 3',
    '        SCAN bound',
    '      REUSE SUBQUERY 2',
    '      REUSE SUBQUERY 3',
    ...(options.filterSubqueries === 1 ? ['      CORRELATED SCALAR SUBQUERY 4', '        SCAN json_each VIRTUAL TABLE INDEX 1:'] : []),
    `    SCAN (subquery-${pageSubquery})`,
    '  UNION ALL',
    `    SEARCH ${table} USING INDEX sqlite_autoindex_${table}_1 (id=?)`,
    `    SCALAR SUBQUERY ${pageSubquery + 2}`,
    '      SCAN bound',
  ];
}

const STATEMENTS: PlannedStatement[] = [
  {
    name: 'api-keys.ts findCredentialsByHash',
    make: (db) => apiKeys.findCredentialsByHash(db, 'hash'),
    plan: ['SEARCH k USING INDEX sqlite_autoindex_api_keys_2 (hash=?)', 'SEARCH o USING INDEX sqlite_autoindex_organizations_1 (id=?)'],
  },
  { name: 'api-keys.ts insertApiKey', make: (db) => apiKeys.insertApiKey(db, API_KEY), plan: [], expands: 'db/api-keys.ts insertApiKey' },
  {
    name: 'api-keys.ts insertReplacementApiKey',
    make: (db) => apiKeys.insertReplacementApiKey(db, API_KEY, 'key_0'),
    plan: [
      'SEARCH api_keys EXISTS USING INDEX sqlite_autoindex_api_keys_1 (id=?)',
      'SEARCH session_key_grants USING COVERING INDEX session_key_grants_by_key (api_key_id=?)',
    ],
  },
  {
    name: 'api-keys.ts getApiKey',
    make: (db) => apiKeys.getApiKey(db, ORG, 'key_1'),
    plan: ['SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)'],
    expands: 'db/api-keys.ts getApiKey',
  },
  {
    name: 'api-keys.ts selectApiKeyStanding',
    make: (db) => apiKeys.selectApiKeyStanding(db, ORG, 'key_1'),
    plan: ['SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)'],
  },
  {
    name: 'api-keys.ts listApiKeys, first page',
    make: (db) => apiKeys.listApiKeys(db, ORG, 10, undefined),
    plan: ['SEARCH api_keys USING INDEX api_keys_by_org (org_id=?)'],
    expands: PAGE,
  },
  {
    name: 'api-keys.ts listApiKeys, after a cursor',
    make: (db) => apiKeys.listApiKeys(db, ORG, 10, CURSOR),
    plan: ['SEARCH api_keys USING INDEX api_keys_by_org (org_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'api-keys.ts revokeApiKey',
    make: (db) => apiKeys.revokeApiKey(db, ORG, 'key_1', AT),
    plan: ['SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)'],
  },
  {
    name: 'api-keys.ts retireRotatedKey',
    make: (db) => apiKeys.retireRotatedKey(db, ORG, 'key_1', 'key_2', AT),
    plan: ['SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)'],
  },
  {
    name: 'api-keys.ts stampLastUsed',
    make: (db) => apiKeys.stampLastUsed(db, 'key_1', AT, AT),
    plan: ['SEARCH api_keys USING INDEX sqlite_autoindex_api_keys_1 (id=?)'],
  },
  {
    name: 'audit-events.ts insertAuditEvent',
    make: (db) => auditEvents.insertAuditEvent(db, AUDIT_CONTEXT, AUDITED_CHANGE),
    plan: [],
    expands: 'db/audit-events.ts insertAuditEvent',
  },
  {
    name: 'audit-events.ts insertAuditEvent, only if changed',
    make: (db) => auditEvents.insertAuditEvent(db, AUDIT_CONTEXT, AUDITED_CHANGE, { onlyIfChanged: true }),
    plan: ['SCAN CONSTANT ROW'],
    expands: 'db/audit-events.ts insertAuditEvent',
  },
  {
    name: 'audit-events.ts listAuditEvents, first page',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { since: AT }, 10, undefined),
    plan: ['SEARCH audit_events USING INDEX audit_events_by_org (org_id=? AND created_at>? AND created_at<?)'],
    expands: PAGE,
  },
  {
    name: 'audit-events.ts listAuditEvents, by action',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { action: 'device.created' }, 10, undefined),
    plan: ['SEARCH audit_events USING INDEX audit_events_by_action (org_id=? AND action=? AND created_at>? AND created_at<?)'],
    expands: PAGE,
  },
  {
    name: 'audit-events.ts listAuditEvents, by action after a cursor',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { action: 'device.created' }, 10, CURSOR),
    plan: ['SEARCH audit_events USING INDEX audit_events_by_action (org_id=? AND action=? AND (created_at,id)>(?,?) AND created_at<?)'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'audit-events.ts listAuditEvents, one object',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { targetType: 'device', targetId: 'dev_1' }, 10, undefined),
    plan: [
      'SEARCH audit_events USING INDEX audit_events_by_target (org_id=? AND target_type=? AND target_id=? AND created_at>? AND created_at<?)',
    ],
    expands: PAGE,
  },
  {
    name: 'audit-events.ts listAuditEvents, one object after a cursor',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { targetType: 'device', targetId: 'dev_1' }, 10, CURSOR),
    plan: [
      'SEARCH audit_events USING INDEX audit_events_by_target (org_id=? AND target_type=? AND target_id=? AND (created_at,id)>(?,?) AND created_at<?)',
    ],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'audit-events.ts listAuditEvents, a target type alone',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { targetType: 'device' }, 10, undefined),
    plan: ['SEARCH audit_events USING INDEX audit_events_by_org (org_id=? AND created_at>? AND created_at<?)'],
    expands: PAGE,
    knownCost:
      'a type alone filters audit_events_by_org: a handful of types share every event, so a page reads a few times what it returns',
  },
  {
    name: 'audit-events.ts listAuditEvents, after a cursor',
    make: (db) => auditEvents.listAuditEvents(db, ORG, { since: AT }, 10, CURSOR),
    plan: ['SEARCH audit_events USING INDEX audit_events_by_org (org_id=? AND (created_at,id)>(?,?) AND created_at<?)'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'audit-events.ts purgeExpiredAuditEvents',
    make: (db) => auditEvents.purgeExpiredAuditEvents(db, AT),
    plan: [
      'SEARCH audit_events USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SCAN o',
      '  SEARCH e USING COVERING INDEX audit_events_by_org (org_id=? AND created_at<?)',
    ],
  },
  {
    name: 'device-connections.ts recordDeviceConnection',
    make: (db) => deviceConnections.recordDeviceConnection(db, { orgId: ORG, deviceId: 'dev_1', sessionId: 'ses_1', at: AT }),
    plan: [
      'SEARCH devices EXISTS USING INDEX sqlite_autoindex_devices_1 (id=?)',
      'SEARCH sessions EXISTS USING INDEX sqlite_autoindex_sessions_1 (id=?)',
    ],
  },
  {
    name: 'device-connections.ts openSessionsOfDevice',
    make: (db) => deviceConnections.openSessionsOfDevice(db, ORG, 'dev_1', AT),
    plan: [
      'SEARCH c USING INDEX sqlite_autoindex_device_connections_1 (device_id=?)',
      'SEARCH s USING INDEX sqlite_autoindex_sessions_1 (id=?)',
    ],
  },
  {
    name: 'device-connections.ts purgeEndedDeviceConnections',
    make: (db) => deviceConnections.purgeEndedDeviceConnections(db),
    plan: [
      'SEARCH device_connections USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SCAN c USING COVERING INDEX device_connections_by_session',
      '  SEARCH s USING INDEX sqlite_autoindex_sessions_1 (id=?)',
    ],
  },
  { name: 'devices.ts insertDevice', make: (db) => devices.insertDevice(db, DEVICE), plan: [] },
  {
    name: 'devices.ts getDevice',
    make: (db) => devices.getDevice(db, ORG, 'dev_1'),
    plan: ['SEARCH devices USING INDEX sqlite_autoindex_devices_1 (id=?)'],
  },
  {
    name: 'devices.ts selectDeviceStanding',
    make: (db) => devices.selectDeviceStanding(db, ORG, 'dev_1'),
    plan: ['SEARCH devices USING INDEX sqlite_autoindex_devices_1 (id=?)'],
  },
  {
    name: 'devices.ts updateDevice',
    make: (db) => devices.updateDevice(db, DEVICE, 1),
    plan: ['SEARCH devices USING INDEX sqlite_autoindex_devices_1 (id=?)'],
  },
  {
    name: 'devices.ts deleteDevice',
    make: (db) => devices.deleteDevice(db, ORG, 'dev_1', 1),
    plan: ['SEARCH devices USING INDEX sqlite_autoindex_devices_1 (id=?)'],
  },
  {
    name: 'devices.ts listDevices, first page',
    make: (db) => devices.listDevices(db, ORG, {}, 10, undefined),
    plan: ['SEARCH devices USING INDEX devices_by_org (org_id=?)'],
    expands: PAGE,
  },
  {
    name: 'devices.ts listDevices, after a cursor',
    make: (db) => devices.listDevices(db, ORG, {}, 10, CURSOR),
    plan: ['SEARCH devices USING INDEX devices_by_org (org_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'devices.ts listDevices, filtered, first page',
    make: (db) => devices.listDevices(db, ORG, { status: 'disabled', q: 'a' }, 10, undefined),
    plan: filteredPagePlan('devices', 'devices_by_org', { afterCursor: false, filterSubqueries: 1 }),
    expands: FILTERED_PAGE,
  },
  {
    name: 'devices.ts listDevices, filtered, after a cursor',
    make: (db) => devices.listDevices(db, ORG, { status: 'disabled', q: 'a' }, 10, CURSOR),
    plan: filteredPagePlan('devices', 'devices_by_org', { afterCursor: true, filterSubqueries: 1 }),
    expands: FILTERED_PAGE,
    afterCursor: true,
  },
  {
    name: 'devices.ts existingDeviceIds',
    make: (db) => devices.existingDeviceIds(db, ORG, ['dev_1', 'dev_2']),
    // Each id looked up by its key: with org_id's index SQLite, not knowing json_each is short, walked
    // every device of the organisation (3,002 rows read for 2 ids of 3,000 devices).
    plan: ['SEARCH devices USING INDEX sqlite_autoindex_devices_1 (id=?)', 'LIST SUBQUERY 1', '  SCAN json_each VIRTUAL TABLE INDEX 1:'],
  },
  {
    name: 'devices.ts stampDeviceSeen',
    make: (db) => devices.stampDeviceSeen(db, ORG, 'dev_1', AT),
    plan: ['SEARCH devices USING INDEX sqlite_autoindex_devices_1 (id=?)'],
  },
  {
    name: 'events.ts insertEvent',
    make: (db) => events.insertEvent(db, EVENT),
    plan: ['SCALAR SUBQUERY 1', '  SEARCH webhook_endpoints USING INDEX webhook_endpoints_by_org (org_id=?)'],
    expands: 'db/events.ts insertEvent',
  },
  {
    name: 'events.ts insertEvent, only if changed',
    make: (db) => events.insertEvent(db, EVENT, { onlyIfChanged: true }),
    plan: ['SCAN CONSTANT ROW', 'SCALAR SUBQUERY 1', '  SEARCH webhook_endpoints USING INDEX webhook_endpoints_by_org (org_id=?)'],
    expands: 'db/events.ts insertEvent',
  },
  {
    name: 'events.ts insertEventOnce',
    make: (db) => events.insertEventOnce(db, EVENT),
    plan: ['SCALAR SUBQUERY 1', '  SEARCH webhook_endpoints USING INDEX webhook_endpoints_by_org (org_id=?)'],
    expands: 'db/events.ts insertEventOnce',
  },
  {
    name: 'events.ts listEvents, first page',
    make: (db) => events.listEvents(db, ORG, { types: ['device.created'], since: AT }, 10, undefined),
    plan: [
      'SEARCH events USING INDEX events_by_org (org_id=? AND created_at>?)',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
      '  CREATE BLOOM FILTER',
    ],
    expands: PAGE,
    knownCost: 'the types filter the rows events_by_org yields (events_by_org_type is never used)',
  },
  {
    name: 'events.ts listEvents, after a cursor',
    make: (db) => events.listEvents(db, ORG, { types: ['device.created'], since: AT }, 10, CURSOR),
    plan: [
      'SEARCH events USING INDEX events_by_org (org_id=? AND (created_at,id)>(?,?))',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
      '  CREATE BLOOM FILTER',
    ],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'events.ts getEvent',
    make: (db) => events.getEvent(db, ORG, 'msg_1'),
    plan: ['SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)'],
  },
  {
    name: 'events.ts purgeExpiredEvents',
    make: (db) => events.purgeExpiredEvents(db, AT),
    plan: [
      'SEARCH events USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH events USING COVERING INDEX events_by_age (created_at<?)',
    ],
  },
  {
    name: 'events.ts undispatchedEvents, of an organisation',
    make: (db) => events.undispatchedEvents(db, { orgId: ORG }, 50),
    plan: ['SEARCH events USING INDEX events_undispatched_by_org (org_id=?)'],
    expands: 'db/events.ts undispatchedEvents',
  },
  {
    name: 'events.ts undispatchedEvents, written before a time',
    make: (db) => events.undispatchedEvents(db, { writtenBefore: AT }, 50),
    plan: ['SEARCH events USING INDEX events_undispatched (created_at<?)'],
  },
  {
    name: 'events.ts markDispatched',
    make: (db) => events.markDispatched(db, 'msg_1', AT),
    plan: ['SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)'],
  },
  {
    name: 'idempotency-keys.ts claimIdempotencyKey',
    make: (db) =>
      idempotencyKeys.claimIdempotencyKey(db, {
        orgId: ORG,
        key: 'idem_1',
        fingerprint: 'fingerprint',
        now: AT,
        lockedUntil: AT,
        expiresAt: AT,
      }),
    plan: [],
  },
  {
    name: 'idempotency-keys.ts getIdempotencyRecord',
    make: (db) => idempotencyKeys.getIdempotencyRecord(db, ORG, 'idem_1'),
    plan: ['SEARCH idempotency_keys USING INDEX sqlite_autoindex_idempotency_keys_1 (org_id=? AND key=?)'],
  },
  {
    name: 'idempotency-keys.ts completeIdempotencyKey',
    make: (db) => idempotencyKeys.completeIdempotencyKey(db, ORG, 'idem_1', IDEMPOTENT_RESULT.response),
    plan: ['SEARCH idempotency_keys USING INDEX sqlite_autoindex_idempotency_keys_1 (org_id=? AND key=?)'],
  },
  {
    name: 'idempotency-keys.ts recordResultStatement',
    make: (db) => idempotencyKeys.recordResultStatement(db, IDEMPOTENT_RESULT),
    plan: [],
    expands: 'db/idempotency-keys.ts recordResultStatement',
  },
  {
    name: 'idempotency-keys.ts recordResultStatement, only if changed',
    make: (db) => idempotencyKeys.recordResultStatement(db, IDEMPOTENT_RESULT, { onlyIfChanged: true }),
    plan: ['SCAN CONSTANT ROW'],
    expands: 'db/idempotency-keys.ts recordResultStatement',
  },
  {
    name: 'idempotency-keys.ts forgetExpiredKey',
    make: (db) => idempotencyKeys.forgetExpiredKey(db, ORG, 'idem_1', AT),
    plan: ['SEARCH idempotency_keys USING INDEX sqlite_autoindex_idempotency_keys_1 (org_id=? AND key=?)'],
  },
  {
    name: 'idempotency-keys.ts releaseIdempotencyKey',
    make: (db) => idempotencyKeys.releaseIdempotencyKey(db, ORG, 'idem_1'),
    plan: ['SEARCH idempotency_keys USING INDEX sqlite_autoindex_idempotency_keys_1 (org_id=? AND key=?)'],
  },
  {
    name: 'idempotency-keys.ts purgeExpiredIdempotencyKeys',
    make: (db) => idempotencyKeys.purgeExpiredIdempotencyKeys(db, AT),
    plan: [
      'SEARCH idempotency_keys USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH idempotency_keys USING COVERING INDEX idempotency_keys_by_expiry (expires_at<?)',
    ],
  },
  {
    name: 'migrations.ts isMigrationApplied',
    make: (db) => migrations.isMigrationApplied(db, migrations.REQUIRED_MIGRATION),
    plan: ['SEARCH d1_migrations USING COVERING INDEX sqlite_autoindex_d1_migrations_1 (name=?)'],
  },
  {
    name: 'organizations.ts insertOrganization',
    make: (db) => organizations.insertOrganization(db, organizations.newOrganization('Plans', 'free')),
    plan: [],
    expands: 'db/organizations.ts insertOrganization',
  },
  {
    name: 'organizations.ts requiresSignedRequests',
    make: (db) => organizations.requiresSignedRequests(db, ORG),
    plan: ['SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)'],
  },
  {
    name: 'organizations.ts setRequireSignedRequests',
    make: (db) => organizations.setRequireSignedRequests(db, ORG, true),
    plan: [
      'SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)',
      'SCALAR SUBQUERY 1',
      '  SEARCH signing_keys USING INDEX signing_keys_by_org (org_id=?)',
    ],
  },
  {
    name: 'signature-nonces.ts recordNonce',
    make: (db) => signatureNonces.recordNonce(db, ORG, 'nonce-0123456789abcdef', AT, AT),
    plan: [],
  },
  {
    name: 'signature-nonces.ts purgeExpiredNonces',
    make: (db) => signatureNonces.purgeExpiredNonces(db, AT),
    plan: [
      'SEARCH signature_nonces USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH signature_nonces USING COVERING INDEX signature_nonces_by_expiry (expires_at<?)',
    ],
  },
  {
    name: 'signing-keys.ts insertSigningKey',
    make: (db) => signingKeys.insertSigningKey(db, SIGNING_KEY),
    plan: ['SCAN CONSTANT ROW', 'SCALAR SUBQUERY 1', '  SEARCH signing_keys USING INDEX signing_keys_by_org (org_id=?)'],
  },
  {
    name: 'signing-keys.ts getSigningKey',
    make: (db) => signingKeys.getSigningKey(db, ORG, 'sig_1'),
    plan: ['SEARCH signing_keys USING INDEX sqlite_autoindex_signing_keys_1 (id=?)'],
    expands: 'db/signing-keys.ts getSigningKey',
  },
  {
    name: 'signing-keys.ts listSigningKeys, first page',
    make: (db) => signingKeys.listSigningKeys(db, ORG, 10, undefined),
    plan: ['SEARCH signing_keys USING INDEX signing_keys_by_org (org_id=?)'],
    expands: PAGE,
  },
  {
    name: 'signing-keys.ts listSigningKeys, after a cursor',
    make: (db) => signingKeys.listSigningKeys(db, ORG, 10, CURSOR),
    plan: ['SEARCH signing_keys USING INDEX signing_keys_by_org (org_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'signing-keys.ts revokeSigningKey',
    make: (db) => signingKeys.revokeSigningKey(db, ORG, 'sig_1', AT),
    plan: [
      'SEARCH signing_keys USING INDEX sqlite_autoindex_signing_keys_1 (id=?)',
      'SCALAR SUBQUERY 1',
      '  SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)',
      'SCALAR SUBQUERY 2',
      '  SEARCH signing_keys USING INDEX signing_keys_by_org (org_id=?)',
    ],
  },
  {
    name: 'organizations.ts getOrganization',
    make: (db) => organizations.getOrganization(db, ORG),
    plan: ['SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)'],
  },
  {
    name: 'organizations.ts updateOrganization',
    make: (db) =>
      organizations.updateOrganization(
        db,
        { id: ORG, name: 'Renamed', plan: 'free', apiVersion: NEWEST_API_VERSION, createdAt: AT, updatedAt: AT, version: 2 },
        1,
      ),
    plan: ['SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)'],
  },
  {
    name: 'session-key-grants.ts recordSessionKeyGrant',
    make: (db) => sessionKeyGrants.recordSessionKeyGrant(db, { orgId: ORG, apiKeyId: 'key_1', sessionId: 'ses_1', expiresAt: AT }),
    plan: [],
  },
  {
    name: 'session-key-grants.ts openSessionsOfApiKey',
    make: (db) => sessionKeyGrants.openSessionsOfApiKey(db, ORG, 'key_1', AT),
    plan: [
      'SEARCH g USING INDEX sqlite_autoindex_session_key_grants_1 (org_id=? AND api_key_id=?)',
      'SEARCH s USING INDEX sqlite_autoindex_sessions_1 (id=?)',
    ],
  },
  {
    name: 'session-key-grants.ts purgeExpiredSessionKeyGrants',
    make: (db) => sessionKeyGrants.purgeExpiredSessionKeyGrants(db, AT),
    plan: [
      'SEARCH session_key_grants USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH session_key_grants USING COVERING INDEX session_key_grants_by_expiry (expires_at<?)',
    ],
  },
  { name: 'sessions.ts insertSession', make: (db) => sessions.insertSession(db, SESSION), plan: [] },
  {
    name: 'sessions.ts selectSession',
    make: (db) => sessions.selectSession(db, ORG, 'ses_1'),
    plan: ['SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)'],
  },
  {
    name: 'sessions.ts endSession',
    make: (db) => sessions.endSession(db, ORG, 'ses_1', AT),
    plan: ['SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)'],
  },
  {
    name: 'sessions.ts listSessions, first page',
    make: (db) => sessions.listSessions(db, ORG, { now: AT }, 10, undefined),
    plan: ['SEARCH sessions USING INDEX sessions_by_org (org_id=?)'],
    expands: PAGE,
  },
  {
    name: 'sessions.ts listSessions, after a cursor',
    make: (db) => sessions.listSessions(db, ORG, { now: AT }, 10, CURSOR),
    plan: ['SEARCH sessions USING INDEX sessions_by_org (org_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'sessions.ts listSessions, filtered, first page',
    make: (db) => sessions.listSessions(db, ORG, { status: 'active', now: AT }, 10, undefined),
    plan: filteredPagePlan('sessions', 'sessions_by_org', { afterCursor: false, filterSubqueries: 0 }),
    expands: FILTERED_PAGE,
  },
  {
    name: 'sessions.ts listSessions, filtered, after a cursor',
    make: (db) => sessions.listSessions(db, ORG, { status: 'active', now: AT }, 10, CURSOR),
    plan: filteredPagePlan('sessions', 'sessions_by_org', { afterCursor: true, filterSubqueries: 0 }),
    expands: FILTERED_PAGE,
    afterCursor: true,
  },
  {
    name: 'sessions.ts sessionsAwaitingMessagePurge',
    make: (db) => sessions.sessionsAwaitingMessagePurge(db, AT, 100),
    plan: ['SEARCH sessions USING INDEX sessions_awaiting_message_purge (<expr><?)'],
  },
  {
    name: 'sessions.ts markMessagesPurged',
    make: (db) => sessions.markMessagesPurged(db, ['ses_1', 'ses_2'], AT),
    plan: ['SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)', 'LIST SUBQUERY 1', '  SCAN json_each VIRTUAL TABLE INDEX 1:'],
  },
  { name: 'webhook-attempts.ts insertAttempt', make: (db) => webhookAttempts.insertAttempt(db, ATTEMPT), plan: [] },
  {
    name: 'webhook-attempts.ts listAttempts, first page',
    make: (db) => webhookAttempts.listAttempts(db, ORG, 'whe_1', {}, 10, undefined),
    plan: ['SEARCH webhook_attempts USING INDEX webhook_attempts_by_endpoint (org_id=? AND endpoint_id=?)'],
    expands: PAGE,
  },
  {
    name: 'webhook-attempts.ts listAttempts, after a cursor',
    make: (db) => webhookAttempts.listAttempts(db, ORG, 'whe_1', {}, 10, CURSOR),
    plan: ['SEARCH webhook_attempts USING INDEX webhook_attempts_by_endpoint (org_id=? AND endpoint_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'webhook-attempts.ts purgeOldAttempts',
    make: (db) => webhookAttempts.purgeOldAttempts(db, AT),
    plan: [
      'SEARCH webhook_attempts USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH webhook_attempts USING COVERING INDEX webhook_attempts_by_age (created_at<?)',
    ],
  },
  {
    name: 'webhook-deliveries.ts insertDelivery',
    make: (db) => webhookDeliveries.insertDelivery(db, DELIVERY),
    plan: [],
    expands: 'db/webhook-deliveries.ts insertPending',
  },
  {
    name: 'webhook-deliveries.ts redeliver',
    make: (db) => webhookDeliveries.redeliver(db, DELIVERY),
    plan: [],
    expands: 'db/webhook-deliveries.ts insertPending',
  },
  {
    name: 'webhook-deliveries.ts getDelivery',
    make: (db) => webhookDeliveries.getDelivery(db, 'whd_1'),
    plan: ['SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)'],
  },
  {
    name: 'webhook-deliveries.ts deliveryOfEvent',
    make: (db) => webhookDeliveries.deliveryOfEvent(db, ORG, 'whe_1', 'msg_1'),
    plan: ['SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_2 (endpoint_id=? AND event_id=?)'],
  },
  {
    name: 'webhook-deliveries.ts failedDeliveryIds',
    make: (db) => webhookDeliveries.failedDeliveryIds(db, ORG, 'whe_1', { since: AT, until: AT }, 100),
    plan: [
      'SEARCH webhook_deliveries USING INDEX webhook_deliveries_by_endpoint (org_id=? AND endpoint_id=? AND status=? AND created_at>? AND created_at<?)',
      'USE TEMP B-TREE FOR LAST TERM OF ORDER BY',
    ],
  },
  {
    name: 'webhook-deliveries.ts reopenFailedDeliveries',
    make: (db) => webhookDeliveries.reopenFailedDeliveries(db, ['whd_1', 'whd_2'], AT),
    plan: [
      'SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
    ],
  },
  {
    name: 'webhook-deliveries.ts leaseDelivery',
    make: (db) => webhookDeliveries.leaseDelivery(db, 'whd_1', AT, AT, AT),
    plan: ['SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)'],
  },
  {
    name: 'webhook-deliveries.ts settleAttempt',
    make: (db) =>
      webhookDeliveries.settleAttempt(
        db,
        {
          id: 'whd_1',
          orgId: ORG,
          endpointId: 'whe_1',
          eventId: 'msg_1',
          status: 'pending',
          attempts: 0,
          scheduleFrom: 0,
          nextAttemptAt: AT,
          leasedUntil: AT,
          createdAt: AT,
          updatedAt: AT,
        },
        { status: 'succeeded', nextAttemptAt: null, at: AT },
      ),
    plan: ['SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)'],
  },
  {
    name: 'webhook-deliveries.ts abandonDelivery',
    make: (db) => webhookDeliveries.abandonDelivery(db, 'whd_1', AT),
    plan: ['SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)'],
  },
  {
    name: 'webhook-deliveries.ts postponeDelivery',
    make: (db) => webhookDeliveries.postponeDelivery(db, 'whd_1', AT, AT),
    plan: ['SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)'],
  },
  {
    name: 'webhook-deliveries.ts overdueDeliveries',
    make: (db) => webhookDeliveries.overdueDeliveries(db, AT, AT, 100),
    plan: ['SEARCH webhook_deliveries USING INDEX webhook_deliveries_due (next_attempt_at<?)'],
  },
  {
    name: 'webhook-deliveries.ts purgeSettledDeliveries',
    make: (db) => webhookDeliveries.purgeSettledDeliveries(db, AT),
    plan: [
      'SEARCH webhook_deliveries USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH webhook_deliveries USING INDEX webhook_deliveries_settled (updated_at<?)',
    ],
  },
  {
    name: 'webhook-endpoints.ts insertWebhookEndpoint',
    make: (db) => webhookEndpoints.insertWebhookEndpoint(db, ENDPOINT, 20),
    plan: ['SCAN CONSTANT ROW', 'SCALAR SUBQUERY 1', '  SEARCH webhook_endpoints USING COVERING INDEX webhook_endpoints_by_org (org_id=?)'],
  },
  {
    name: 'webhook-endpoints.ts getWebhookEndpoint',
    make: (db) => webhookEndpoints.getWebhookEndpoint(db, ORG, 'whe_1'),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  {
    name: 'webhook-endpoints.ts updateWebhookEndpoint',
    make: (db) => webhookEndpoints.updateWebhookEndpoint(db, ENDPOINT, 1),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  {
    name: 'webhook-endpoints.ts deleteWebhookEndpoint',
    make: (db) => webhookEndpoints.deleteWebhookEndpoint(db, ORG, 'whe_1', 1),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  {
    name: 'webhook-endpoints.ts listWebhookEndpoints, first page',
    make: (db) => webhookEndpoints.listWebhookEndpoints(db, ORG, 10, undefined),
    plan: ['SEARCH webhook_endpoints USING INDEX webhook_endpoints_by_org (org_id=?)'],
    expands: PAGE,
  },
  {
    name: 'webhook-endpoints.ts listWebhookEndpoints, after a cursor',
    make: (db) => webhookEndpoints.listWebhookEndpoints(db, ORG, 10, CURSOR),
    plan: ['SEARCH webhook_endpoints USING INDEX webhook_endpoints_by_org (org_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'webhook-endpoints.ts clearExpiredPreviousSecrets',
    make: (db) => webhookEndpoints.clearExpiredPreviousSecrets(db, AT),
    plan: [
      'SEARCH webhook_endpoints USING COVERING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)',
      'LIST SUBQUERY 1',
      '  SCAN webhook_endpoints',
    ],
  },
  {
    name: 'webhook-endpoints.ts endpointsSealedWithOtherKeys',
    make: (db) => webhookEndpoints.endpointsSealedWithOtherKeys(db, 'v2.'),
    plan: ['SCAN webhook_endpoints'],
  },
  {
    name: 'webhook-endpoints.ts replaceSealedSecrets',
    make: (db) =>
      webhookEndpoints.replaceSealedSecrets(
        db,
        { id: 'whe_1', orgId: ORG, secretSealed: 'old', previousSecretSealed: null },
        { secretSealed: 'new', previousSecretSealed: null },
      ),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  {
    name: 'webhook-endpoints.ts enabledEndpoints',
    make: (db) => webhookEndpoints.enabledEndpoints(db, ORG),
    plan: ['SEARCH webhook_endpoints USING INDEX webhook_endpoints_by_org (org_id=?)'],
  },
  {
    name: 'webhook-endpoints.ts recordEndpointFailure',
    make: (db) => webhookEndpoints.recordEndpointFailure(db, ORG, 'whe_1', AT),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  {
    name: 'webhook-endpoints.ts recordEndpointSuccess',
    make: (db) => webhookEndpoints.recordEndpointSuccess(db, ORG, 'whe_1'),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  { name: 'organization-exports.ts insertExport', make: (db) => organizationExports.insertExport(db, ORGANIZATION_EXPORT), plan: [] },
  {
    name: 'organization-exports.ts getExport',
    make: (db) => organizationExports.getExport(db, ORG, 'exp_1'),
    plan: ['SEARCH organization_exports USING INDEX sqlite_autoindex_organization_exports_1 (id=?)'],
  },
  {
    name: 'organization-exports.ts listExports, first page',
    make: (db) => organizationExports.listExports(db, ORG, 10, undefined),
    plan: ['SEARCH organization_exports USING INDEX organization_exports_by_org (org_id=?)'],
    expands: PAGE,
  },
  {
    name: 'organization-exports.ts listExports, after a cursor',
    make: (db) => organizationExports.listExports(db, ORG, 10, CURSOR),
    plan: ['SEARCH organization_exports USING INDEX organization_exports_by_org (org_id=? AND (created_at,id)>(?,?))'],
    expands: PAGE,
    afterCursor: true,
  },
  {
    name: 'organization-exports.ts startExport',
    make: (db) => organizationExports.startExport(db, 'exp_1', AT),
    plan: ['SEARCH organization_exports USING INDEX sqlite_autoindex_organization_exports_1 (id=?)'],
  },
  {
    name: 'organization-exports.ts recordProgress',
    make: (db) => organizationExports.recordProgress(db, 'exp_1', EMPTY_PROGRESS),
    plan: ['SEARCH organization_exports USING INDEX sqlite_autoindex_organization_exports_1 (id=?)'],
  },
  {
    name: 'organization-exports.ts completeExport',
    make: (db) => organizationExports.completeExport(db, 'exp_1', { at: AT, expiresAt: AT, sizeBytes: 1, progress: EMPTY_PROGRESS }),
    plan: ['SEARCH organization_exports USING INDEX sqlite_autoindex_organization_exports_1 (id=?)'],
  },
  {
    name: 'organization-exports.ts failExport',
    make: (db) => organizationExports.failExport(db, 'exp_1', { at: AT, expiresAt: AT, errorCode: 'stalled' }),
    plan: ['SEARCH organization_exports USING INDEX sqlite_autoindex_organization_exports_1 (id=?)'],
  },
  {
    name: 'organization-exports.ts exportsToExpire',
    make: (db) => organizationExports.exportsToExpire(db, AT, 10),
    plan: ['SEARCH organization_exports USING INDEX organization_exports_expiring (expires_at<?)'],
  },
  {
    name: 'organization-exports.ts markExpired',
    make: (db) => organizationExports.markExpired(db, 'exp_1'),
    plan: ['SEARCH organization_exports USING INDEX sqlite_autoindex_organization_exports_1 (id=?)'],
  },
  {
    name: 'organization-exports.ts exportsInProgressSince',
    make: (db) => organizationExports.exportsInProgressSince(db, AT, 10),
    plan: ['SEARCH organization_exports USING INDEX organization_exports_in_progress (created_at<?)'],
  },
  {
    name: 'webhook-endpoints.ts disableFailingEndpoint',
    make: (db) => webhookEndpoints.disableFailingEndpoint(db, ENDPOINT, AT, AT),
    plan: ['SEARCH webhook_endpoints USING INDEX sqlite_autoindex_webhook_endpoints_1 (id=?)'],
  },
  {
    name: 'api-keys.ts revokeOrganizationKeys',
    make: (db) => apiKeys.revokeOrganizationKeys(db, ORG, AT),
    plan: [
      'SEARCH api_keys USING INDEX api_keys_by_org (org_id=?)',
      'SCALAR SUBQUERY 1',
      '  SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)',
    ],
  },
  {
    name: 'audit-events.ts redactDeviceAuditEvents',
    make: (db) => auditEvents.redactDeviceAuditEvents(db, ORG, 'dev_1'),
    plan: [
      'SEARCH audit_events USING INDEX audit_events_by_target (org_id=? AND target_type=? AND target_id=?)',
      'SCALAR SUBQUERY 1',
      '  SEARCH device_erasures USING COVERING INDEX sqlite_autoindex_device_erasures_1 (org_id=? AND device_id=?)',
    ],
  },
  {
    name: 'device-connections.ts sessionsOfDevice',
    make: (db) => deviceConnections.sessionsOfDevice(db, ORG, 'dev_1', 50),
    plan: ['SEARCH device_connections USING INDEX sqlite_autoindex_device_connections_1 (device_id=?)'],
  },
  {
    name: 'device-connections.ts deleteDeviceConnections',
    make: (db) => deviceConnections.deleteDeviceConnections(db, ORG, 'dev_1', ['ses_1', 'ses_2']),
    plan: [
      'SEARCH device_connections USING INDEX sqlite_autoindex_device_connections_1 (device_id=? AND session_id=?)',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
    ],
  },
  {
    name: 'device-erasures.ts insertDeviceErasure',
    make: (db) => deviceErasures.insertDeviceErasure(db, ORG, 'dev_1', AT),
    plan: ['SCAN CONSTANT ROW'],
  },
  {
    name: 'device-erasures.ts pendingDeviceErasures',
    make: (db) => deviceErasures.pendingDeviceErasures(db, AT, 50),
    plan: ['SEARCH device_erasures USING INDEX device_erasures_by_age (requested_at<?)'],
  },
  {
    name: 'device-erasures.ts deleteDeviceErasure',
    make: (db) => deviceErasures.deleteDeviceErasure(db, ORG, 'dev_1'),
    plan: ['SEARCH device_erasures USING INDEX sqlite_autoindex_device_erasures_1 (org_id=? AND device_id=?)'],
  },
  {
    name: 'events.ts redactDeviceEvents',
    make: (db) => events.redactDeviceEvents(db, ORG, 'dev_1', '[erased]'),
    plan: [
      'SEARCH events USING INDEX events_by_org_type (org_id=? AND type=?)',
      'SCALAR SUBQUERY 1',
      '  SEARCH device_erasures USING COVERING INDEX sqlite_autoindex_device_erasures_1 (org_id=? AND device_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts sessionPage',
    make: (db) => organizationErasure.sessionPage(db, ORG, 50),
    plan: ['SEARCH sessions USING COVERING INDEX sessions_by_org (org_id=?)'],
  },
  {
    name: 'device-connections.ts deleteConnectionsOfSessions',
    make: (db) => deviceConnections.deleteConnectionsOfSessions(db, ['ses_1']),
    plan: [
      'SEARCH device_connections USING COVERING INDEX device_connections_by_session (session_id=?)',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
    ],
  },
  {
    name: 'session-key-grants.ts deleteGrantsOfSessions',
    make: (db) => sessionKeyGrants.deleteGrantsOfSessions(db, ['ses_1']),
    plan: [
      'SEARCH session_key_grants USING COVERING INDEX session_key_grants_by_session (session_id=?)',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
    ],
  },
  {
    name: 'sessions.ts deleteSessions',
    make: (db) => sessions.deleteSessions(db, ORG, ['ses_1']),
    plan: [
      'SEARCH sessions USING COVERING INDEX sessions_by_org (org_id=?)',
      'LIST SUBQUERY 1',
      '  SCAN json_each VIRTUAL TABLE INDEX 1:',
      '  CREATE BLOOM FILTER',
      'SEARCH session_key_grants USING COVERING INDEX session_key_grants_by_session (session_id=?)',
      'SEARCH device_connections USING COVERING INDEX device_connections_by_session (session_id=?)',
    ],
  },
  {
    name: 'organization-tombstones.ts insertTombstone',
    make: (db) => tombstones.insertTombstone(db, { orgId: ORG, erasedAt: AT, erasedByKeyId: 'key_1' }),
    plan: ['SEARCH organizations EXISTS USING INDEX sqlite_autoindex_organizations_1 (id=?)'],
  },
  {
    name: 'organizations.ts markOrganizationErased',
    make: (db) => organizations.markOrganizationErased(db, ORG, AT),
    plan: ['SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)'],
  },
  {
    name: 'organizations.ts organizationsBeingErased',
    make: (db) => organizations.organizationsBeingErased(db, 50),
    plan: ['SEARCH organizations USING INDEX organizations_being_erased (erased_at>?)'],
  },
  {
    name: 'organizations.ts deleteErasedOrganization',
    make: (db) => organizations.deleteErasedOrganization(db, ORG),
    plan: [
      'SEARCH organizations USING INDEX sqlite_autoindex_organizations_1 (id=?)',
      'SEARCH device_erasures USING COVERING INDEX sqlite_autoindex_device_erasures_1 (org_id=?)',
      'SEARCH organization_exports USING COVERING INDEX organization_exports_by_org (org_id=?)',
      'SEARCH signing_keys USING COVERING INDEX signing_keys_by_org (org_id=?)',
      'SEARCH webhook_attempts USING COVERING INDEX webhook_attempts_by_endpoint (org_id=?)',
      'SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_by_endpoint (org_id=?)',
      'SEARCH events USING COVERING INDEX events_by_org_type (org_id=?)',
      'SEARCH webhook_endpoints USING COVERING INDEX webhook_endpoints_by_org (org_id=?)',
      'SEARCH session_key_grants USING COVERING INDEX sqlite_autoindex_session_key_grants_1 (org_id=?)',
      'SCAN device_connections',
      'SEARCH sessions USING COVERING INDEX sessions_by_org (org_id=?)',
      'SEARCH devices USING COVERING INDEX devices_by_org (org_id=?)',
      'SEARCH audit_events USING COVERING INDEX audit_events_by_org (org_id=?)',
      'SEARCH api_keys USING COVERING INDEX api_keys_by_org (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, webhook_attempts',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'webhook_attempts', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH webhook_attempts USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH webhook_attempts USING COVERING INDEX webhook_attempts_by_endpoint (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, webhook_deliveries',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'webhook_deliveries', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH webhook_deliveries USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_by_endpoint (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, events',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'events', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH events USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH events USING COVERING INDEX events_by_org_type (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, webhook_endpoints',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'webhook_endpoints', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH webhook_endpoints USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH webhook_endpoints USING COVERING INDEX webhook_endpoints_by_org (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, audit_events',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'audit_events', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH audit_events USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH audit_events USING COVERING INDEX audit_events_by_org (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, idempotency_keys',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'idempotency_keys', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH idempotency_keys USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH idempotency_keys USING COVERING INDEX sqlite_autoindex_idempotency_keys_1 (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, device_erasures',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'device_erasures', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH device_erasures USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH device_erasures USING COVERING INDEX sqlite_autoindex_device_erasures_1 (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, devices',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'devices', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH devices USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH devices USING COVERING INDEX devices_by_org (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, signature_nonces',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'signature_nonces', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH signature_nonces USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH signature_nonces USING COVERING INDEX sqlite_autoindex_signature_nonces_1 (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, signing_keys',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'signing_keys', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH signing_keys USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH signing_keys USING COVERING INDEX signing_keys_by_org (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, organization_exports',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'organization_exports', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH organization_exports USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH organization_exports USING COVERING INDEX organization_exports_by_org (org_id=?)',
    ],
  },
  {
    name: 'organization-erasure.ts deleteOrganizationRows, api_keys',
    make: (db) => organizationErasure.deleteOrganizationRows(db, 'api_keys', ORG, 1000),
    expands: 'db/organization-erasure.ts deleteOrganizationRows',
    plan: [
      'SEARCH api_keys USING INTEGER PRIMARY KEY (rowid=?)',
      'LIST SUBQUERY 1',
      '  SEARCH api_keys USING COVERING INDEX api_keys_by_org (org_id=?)',
      'SEARCH session_key_grants USING COVERING INDEX session_key_grants_by_key (api_key_id=?)',
    ],
  },
];

/**
 * The only whole-table (or whole-index) walks allowed, by statement and plan line, each with why its
 * cost is fine. A new one is a query to fix or an index to add, not a line to add here lightly.
 */
const FULL_SCANS_ALLOWED: Record<string, { line: string; why: string }> = {
  'audit-events.ts purgeExpiredAuditEvents': {
    line: '  SCAN o',
    why: 'the organisations are the outer loop on purpose (one row per tenant, hourly), so that each one’s expired events are a single range',
  },
  'device-connections.ts purgeEndedDeviceConnections': {
    line: '  SCAN c USING COVERING INDEX device_connections_by_session',
    why: 'hourly, over a table the purge keeps to the connections of sessions that were live within the hour, not to all history',
  },
  'organizations.ts deleteErasedOrganization': {
    line: 'SCAN device_connections',
    why:
      "SQLite's foreign-key check of the organisation's row against device_connections.org_id, which no index leads with: " +
      'once per organisation erased, after its sessions (and so its connections) are gone, over a table the hourly purge keeps to ' +
      'the connections of sessions live within the last day; an index on org_id would cost every connect a write for this one read',
  },
  'webhook-endpoints.ts clearExpiredPreviousSecrets': {
    line: '  SCAN webhook_endpoints',
    why: 'hourly, over at most MAX_WEBHOOK_ENDPOINTS (20) rows per organisation; endpointsSealedWithOtherKeys walks the same rows every hour anyway',
  },
  'webhook-endpoints.ts endpointsSealedWithOtherKeys': {
    line: 'SCAN webhook_endpoints',
    why: 'hourly, over at most 20 rows per organisation; no index can answer "sealed under another key than the current one"',
  },
};

/** The only temporary B-trees allowed, by statement and plan line, each with why they stay small. */
const TEMP_B_TREES_ALLOWED: Record<string, { line: string; why: string }> = {
  'webhook-deliveries.ts failedDeliveryIds': {
    line: 'USE TEMP B-TREE FOR LAST TERM OF ORDER BY',
    why:
      'rows come in created_at order from the index and only those sharing one created_at (one dispatch) are sorted by id; ' +
      'the LIMIT ends the walk (measured: 23 rows read for 10 of 3,000)',
  },
};

// ---------------------------------------------------------------------------------------------
// The `.prepare(` calls in the source

const SOURCES = import.meta.glob<string>('../../src/**/*.ts', { query: '?raw', import: 'default', eager: true });

interface PrepareSite {
  /** `db/page.ts readPage`: the file under src/ and the function the call is in (`#2` on for a second one there). */
  where: string;
  /** The SQL, when the argument is a string or template literal without `${…}`. */
  literal?: string;
  /** The literal text between the `${…}` of a template literal, in order; none for a variable. */
  templateParts?: string[];
  /**
   * A binding's own `prepare: (sql) => … .prepare(sql)` (db/guarded-d1.ts, chaos/d1.ts): it hands on
   * its caller's SQL and has none of its own.
   */
  passThrough?: true;
}

/** The end of the string literal opened at `start` (the index after its closing quote). */
function endOfString(text: string, start: number): number {
  const quote = text[start];
  let at = start + 1;
  while (at < text.length && text[at] !== quote) at += text[at] === '\\' ? 2 : 1;
  return at + 1;
}

/** The end of the `${…}` expression whose body starts at `start` (the index after its `}`). */
function endOfInterpolation(text: string, start: number): number {
  let depth = 1;
  let at = start;
  while (at < text.length) {
    const char = text[at];
    if (char === "'" || char === '"') at = endOfString(text, at);
    else if (char === '`') at = readTemplate(text, at).end;
    else {
      if (char === '{') depth += 1;
      if (char === '}') depth -= 1;
      at += 1;
      if (depth === 0) return at;
    }
  }
  return at;
}

/** The template literal opened at `start`: its literal parts and its end. */
function readTemplate(text: string, start: number): { parts: string[]; end: number } {
  const parts: string[] = [];
  let part = '';
  let at = start + 1;
  while (at < text.length && text[at] !== '`') {
    if (text[at] === '\\') {
      part += text.slice(at, at + 2);
      at += 2;
    } else if (text.startsWith('${', at)) {
      parts.push(part);
      part = '';
      at = endOfInterpolation(text, at + 2);
    } else {
      part += text[at];
      at += 1;
    }
  }
  parts.push(part);
  return { parts, end: at + 1 };
}

function prepareSites(file: string, text: string): PrepareSite[] {
  const sites: PrepareSite[] = [];
  const seen = new Map<string, number>();
  for (const call of text.matchAll(/\.prepare\(\s*/g)) {
    const start = call.index + call[0].length;
    const functionName = [...text.slice(0, call.index).matchAll(/function\s+([\w$]+)/g)].at(-1)?.[1] ?? '(module)';
    const place = `${file} ${functionName}`;
    const count = (seen.get(place) ?? 0) + 1;
    seen.set(place, count);
    const where = count === 1 ? place : `${place} #${count}`;
    const opening = text[start];
    if (opening === "'" || opening === '"') {
      sites.push({ where, literal: text.slice(start + 1, endOfString(text, start) - 1).replace(/\\(.)/g, '$1') });
    } else if (opening === '`') {
      const { parts } = readTemplate(text, start);
      sites.push(parts.length === 1 ? { where, literal: parts[0] ?? '' } : { where, templateParts: parts });
    } else {
      const argument = /^[\w$]+/.exec(text.slice(start))?.[0] ?? '';
      const line = text.slice(text.lastIndexOf('\n', call.index) + 1, call.index);
      sites.push(new RegExp(`prepare:\\s*\\(${argument}\\b`).test(line) ? { where, passThrough: true } : { where });
    }
  }
  return sites;
}

const SITES = Object.entries(SOURCES).flatMap(([path, text]) => prepareSites(path.replace('../../src/', ''), text));

// ---------------------------------------------------------------------------------------------
// Plans

interface PlanRow {
  id: number;
  parent: number;
  detail: string;
}

/** The plan SQLite chooses for the statement with its parameters, one line per step, indented by depth. */
async function planOf({ sql, params }: RecordedStatement): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<PlanRow>();
  const depthOf = new Map<number, number>([[0, -1]]);
  return results.map((row) => {
    const depth = (depthOf.get(row.parent) ?? -1) + 1;
    depthOf.set(row.id, depth);
    return `${'  '.repeat(depth)}${row.detail}`;
  });
}

/**
 * A walk of a whole table or index. Not one: json_each's walk of a bound array, a FROM-less SELECT's
 * one row, and the walk of what a subquery or a materialized CTE yielded (`SCAN (subquery-2)`,
 * `SCAN bound` after `MATERIALIZE bound`), whose own reads are the plan lines under it, checked here too.
 */
function isFullScan(line: string, plan: readonly string[]): boolean {
  const scanned = /^\s*SCAN (.+)$/.exec(line)?.[1];
  if (scanned === undefined || / VIRTUAL TABLE /.test(line) || scanned === 'CONSTANT ROW' || /^\(subquery-\d+\)$/.test(scanned))
    return false;
  return !plan.some((step) => step.trim() === `MATERIALIZE ${scanned}`);
}

const recorded = new Map<string, RecordedStatement[]>();

beforeAll(async () => {
  for (const statement of STATEMENTS) {
    const { db, statements } = recordingD1();
    await statement.make(db);
    recorded.set(statement.name, statements);
  }
});

function statementOf(name: string): RecordedStatement {
  const statements = recorded.get(name) ?? [];
  expect(statements, `${name} should prepare exactly one statement`).toHaveLength(1);
  return statements[0] as RecordedStatement;
}

describe('the plan of every statement in src/db', () => {
  for (const statement of STATEMENTS) {
    const title = statement.knownCost === undefined ? statement.name : `${statement.name} (known cost: ${statement.knownCost})`;
    it(title, async () => {
      const made = statementOf(statement.name);
      const plan = await planOf(made);
      const allowances = [FULL_SCANS_ALLOWED[statement.name], TEMP_B_TREES_ALLOWED[statement.name]].filter(
        (allowed) => allowed !== undefined,
      );
      const shown = [
        statement.name,
        made.sql,
        'actual plan:',
        ...plan,
        ...allowances.map((allowed) => `allowed: ${allowed.line.trim()}, because ${allowed.why}`),
        '',
      ].join('\n');
      const allowedScan = FULL_SCANS_ALLOWED[statement.name]?.line;
      const allowedSort = TEMP_B_TREES_ALLOWED[statement.name]?.line;
      expect(
        plan.filter((line) => isFullScan(line, plan) && line !== allowedScan),
        `${shown}scans a whole table: use an index, or add it to FULL_SCANS_ALLOWED with why that is fine`,
      ).toEqual([]);
      expect(
        plan.filter((line) => line.includes('USE TEMP B-TREE') && line !== allowedSort),
        `${shown}sorts in a temporary B-tree: order by an index, or add it to TEMP_B_TREES_ALLOWED with why it stays small`,
      ).toEqual([]);
      if (statement.afterCursor) {
        // The page's own search: the first line of a plain page, the first table search of a filtered one.
        const search = plan.find((line) => /^\s*SEARCH /.test(line));
        expect(search, `${shown}does not start at the cursor: the page walks every row before it`).toMatch(
          // The cursor's range, with at most an upper bound after it (on created_at, or where a filtered page stops).
          /\(created_at,id\)>\(\?,\?\)( AND created_at<\?| AND \(created_at,id\)<\(\?,\?\))?\)$/,
        );
      }
      expect(plan, `${shown}is not the plan this test states (the index, or the columns of it used, changed)`).toEqual(statement.plan);
    });
  }
});

describe('what the plans cover', () => {
  const expansions = new Map<string, PlannedStatement[]>();
  for (const statement of STATEMENTS) {
    if (statement.expands !== undefined) expansions.set(statement.expands, [...(expansions.get(statement.expands) ?? []), statement]);
  }

  it('reads every kind of argument `.prepare(` is given', () => {
    const sample = [
      "function one(db) { return db.prepare('SELECT \\'a\\' FROM t WHERE x = ?1'); }",
      'function two(db, sql) { return db.prepare(sql); }',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: source text for the reader to parse, not a template.
      'function three(db, changed) { return db.prepare(`INSERT INTO t ${changed ? `SELECT ${values} WHERE changes() > 0` : `VALUES (${values})`}`); }',
      'function four(db) { return { prepare: (sql: string) => wrap(db.prepare(sql), sql) }; }',
      'function five(db) { db.prepare(`SELECT 1`); db.prepare(`SELECT 2`); }',
    ].join('\n');
    expect(prepareSites('db/sample.ts', sample)).toEqual([
      { where: 'db/sample.ts one', literal: "SELECT 'a' FROM t WHERE x = ?1" },
      { where: 'db/sample.ts two' },
      { where: 'db/sample.ts three', templateParts: ['INSERT INTO t ', ''] },
      { where: 'db/sample.ts four', passThrough: true },
      { where: 'db/sample.ts five', literal: 'SELECT 1' },
      { where: 'db/sample.ts five #2', literal: 'SELECT 2' },
    ]);
  });

  it('finds in the source every statement planned here', () => {
    const literals = new Set(SITES.map((site) => site.literal));
    const notFound = STATEMENTS.filter((statement) => statement.expands === undefined && !literals.has(statementOf(statement.name).sql));
    expect(
      notFound.map((statement) => statement.name),
      'no `.prepare(` in src/ has this SQL as it is: name the one that builds it in `expands`',
    ).toEqual([]);
  });

  it('plans every statement written out in src/db', () => {
    const planned = new Set([...recorded.values()].flat().map((statement) => statement.sql));
    const unplanned = SITES.filter((site) => site.literal !== undefined && !planned.has(site.literal)).map(
      (site) => `${site.where}: ${site.literal}`,
    );
    expect(unplanned, 'statements no entry of STATEMENTS makes: add one for each (its plan, with the index it must use)').toEqual([]);
  });

  it('expands every statement built from interpolations or handed over in a variable', () => {
    const unknown = SITES.filter((site) => site.literal === undefined && !site.passThrough && !expansions.has(site.where));
    expect(
      unknown.map((site) => site.where),
      'these build their SQL (or take it from a variable): add an entry to STATEMENTS for each statement they make, with `expands` naming them',
    ).toEqual([]);
  });

  it('expands templates into statements that are theirs', () => {
    const mismatched: string[] = [];
    for (const { where, templateParts } of SITES) {
      if (templateParts === undefined) continue;
      for (const statement of expansions.get(where) ?? []) {
        const { sql } = statementOf(statement.name);
        // The template's literal parts, in their order: what is between them is what `${…}` put there.
        let from = 0;
        for (const part of templateParts) {
          const at = sql.indexOf(part, from);
          if (at === -1) mismatched.push(`${statement.name} is not made by ${where} (no ${JSON.stringify(part)})`);
          else from = at + part.length;
        }
      }
    }
    expect(mismatched).toEqual([]);
  });

  it('names no statement or allowance that is gone', () => {
    const sites = new Set(SITES.map((site) => site.where));
    const names = new Set(STATEMENTS.map((statement) => statement.name));
    const gone = [
      ...[...expansions.keys()].filter((where) => !sites.has(where)),
      ...Object.keys(FULL_SCANS_ALLOWED).filter((name) => !names.has(name)),
      ...Object.keys(TEMP_B_TREES_ALLOWED).filter((name) => !names.has(name)),
    ];
    expect(gone).toEqual([]);
  });

  it('states for each allowed scan and sort a plan that has it', () => {
    const unused = STATEMENTS.flatMap((statement) =>
      [FULL_SCANS_ALLOWED[statement.name]?.line, TEMP_B_TREES_ALLOWED[statement.name]?.line]
        .filter((line) => line !== undefined && !statement.plan.includes(line))
        .map((line) => `${statement.name}: ${line}`),
    );
    expect(unused, 'allowances the stated plan no longer has: remove them').toEqual([]);
  });

  it('prepares SQL outside src/db only in bindings that pass their caller’s SQL through', () => {
    const elsewhere = SITES.filter((site) => !site.where.startsWith('db/') && !site.passThrough);
    expect(
      elsewhere.map((site) => site.where),
      'SQL belongs in src/db (one module per table), where this test plans it',
    ).toEqual([]);
  });
});

describe('a page deep into a list', () => {
  it('reads the rows of the page, as the first page does, not the rows before it', async () => {
    const tenant = await createTenant();
    const rows = 1_000;
    // Seeded in one statement: one device a second, so created_at orders them as their ids do.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO devices (id, org_id, name, kind, created_at, updated_at)
       SELECT printf('dev_plan%04d', i), ?1, 'seeded', 'iot', strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || i || ' seconds'), ?3 FROM n`,
    )
      .bind(tenant.orgId, rows, AT)
      .run();
    const rowsRead: number[] = [];
    const real = env.DB;
    const metered = (statement: D1PreparedStatement): D1PreparedStatement => {
      const wrapped = {
        bind: (...values: unknown[]) => metered(statement.bind(...values)),
        all: async () => {
          const result = await statement.all();
          rowsRead.push(result.meta.rows_read);
          return result;
        },
      };
      // readPage calls bind and all, nothing else.
      return wrapped as unknown as D1PreparedStatement;
    };
    // As above: readPage calls prepare only.
    const db = { prepare: (sql: string) => metered(real.prepare(sql)) } as unknown as D1Database;
    const limit = 10;
    const first = await devices.listDevices(db, tenant.orgId, {}, limit, undefined);
    const deepPosition = { createdAt: '2026-01-01T00:15:00.000Z', id: 'dev_plan0900' };
    const deep = await devices.listDevices(db, tenant.orgId, {}, limit, deepPosition);
    expect(first.items.map((device) => device.id)).toEqual(
      Array.from({ length: limit }, (_, i) => `dev_plan${String(i + 1).padStart(4, '0')}`),
    );
    expect(deep.items.map((device) => device.id)).toEqual(
      Array.from({ length: limit }, (_, i) => `dev_plan${String(901 + i).padStart(4, '0')}`),
    );
    expect(deep.hasMore).toBe(true);
    const [firstRead = 0, deepRead = 0] = rowsRead;
    expect(firstRead).toBeLessThanOrEqual(limit + 2);
    expect(deepRead).toBeLessThanOrEqual(firstRead + 1);
  });
});
