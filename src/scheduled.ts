/**
 * @module
 * The hourly retention run (the Worker's `scheduled` handler): it deletes what the service no
 * longer needs, a bounded amount per run so that one run stays far inside a cron invocation's
 * limits (30 s of CPU by default; at most 513 subrequests here, where the Paid plan allows 1,000 or
 * more), and leaves the rest to the next hour's run:
 *
 * - idempotency records past their 24 hours;
 * - request-signature nonces past their 5-minute window;
 * - device connections of sessions whose messages are purged (kept to reach a device's live sockets
 *   and, for its erasure, its messages);
 * - session key grants past their session's expiry (kept only to reach the sockets opened with a
 *   revoked key's tokens);
 * - audit events older than the organisation's plan keeps them (`AUDIT_RETENTION_DAYS`);
 * - events older than `EVENT_RETENTION_DAYS` (30), whatever the plan, and webhook attempts and settled
 *   deliveries as old;
 * - the message ring of each session over for {@link MESSAGE_RING_GRACE_MS}, in its room;
 * - webhook signing secrets a rotation replaced, once their 24-hour overlap is over;
 * - the archives of organisation exports past their 7 days (and what failed exports wrote), whose
 *   rows are then marked `expired`.
 *
 * It also looks after exports still in progress after {@link EXPORT_START_GRACE_MS}: it starts the
 * job of one whose request could not start it, and fails (`stalled`) one whose job ended without
 * finishing it, so that the organisation can ask for another.
 *
 * It also makes sure every erasure under way has its job at work (workflows/start-erasure.ts
 * resumeErasure): an organisation marked erased, a device whose erasure is pending, whose job never
 * started or failed for good, gets it started or restarted.
 *
 * It also re-seals webhook signing secrets sealed under an earlier STORAGE_ENCRYPTION_SECRET with
 * the current one. Unlike saved responses, which expire within 24 hours, they live as long as
 * their endpoint: without this, retiring an old storage secret would make them unreadable.
 *
 * Each step is logged on one line with its counts, and one that fails does not stop the others.
 */
import * as auditEvents from './db/audit-events.ts';
import * as deviceConnections from './db/device-connections.ts';
import * as deviceErasures from './db/device-erasures.ts';
import * as events from './db/events.ts';
import * as exportObjects from './db/export-objects.ts';
import { guardD1 } from './db/guarded-d1.ts';
import * as idempotencyKeys from './db/idempotency-keys.ts';
import * as organizationExports from './db/organization-exports.ts';
import * as organizations from './db/organizations.ts';
import * as sessionKeyGrants from './db/session-key-grants.ts';
import * as sessions from './db/sessions.ts';
import * as signatureNonces from './db/signature-nonces.ts';
import * as webhookAttempts from './db/webhook-attempts.ts';
import * as webhookDeliveries from './db/webhook-deliveries.ts';
import * as webhookEndpoints from './db/webhook-endpoints.ts';
import type { SessionRoom } from './durable-objects/session-room.ts';
import type { Config } from './env.ts';
import { currentKeyPrefix, open, seal, storageKeyring } from './lib/encryption.ts';
import type { Logger } from './lib/logger.ts';
import { withTimeout } from './lib/resilience.ts';
import { webhookSecretSealingContext } from './lib/webhook-secret.ts';
import { startExportJob } from './routes/organization-exports/job.ts';
import { EVENT_RETENTION_DAYS } from './schemas/events.ts';
import { failOrganizationExport } from './workflows/organization-export.ts';
import { type ErasureParams, type ErasureResumption, resumeErasure } from './workflows/start-erasure.ts';

/**
 * How long a session's messages outlive its end. Nothing reads the ring once the session is over
 * (a reconnect is refused as `session_ended` before any replay), so this only has to outlast the
 * clients and operators who may still ask about it: a day covers a device that reconnects after a
 * night offline, and the support question that follows, at the cost of one day of messages kept.
 */
export const MESSAGE_RING_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * Batches each table's purge may delete per run (each batch is one statement, see the db modules'
 * `*_PURGE_BATCH_ROWS`). 20 batches of 1,000 rows is 20,000 rows an hour per table, 480,000 a day,
 * in under a second of D1 time; the eight tables take at most 160 of the run's subrequests, the
 * webhook secrets 22 more (20 batches forgetting replaced secrets, one read and one batch re-sealing).
 */
export const MAX_BATCHES_PER_PURGE = 20;

/**
 * Rooms purged per run: 4,800 sessions a day. Each is one Durable Object call (~0.3 ms of the
 * Worker's CPU) and a share of one D1 update per group: 200 calls and 11 queries, beside the table
 * purges' 160. A backlog (after the migration, or a burst of sessions) shows as `more_left: true`
 * and drains over the following runs.
 */
export const MAX_ROOM_PURGES_PER_RUN = 200;

/** Rooms called at once: each call mostly waits on the room, so 20 share the wait without piling up calls. */
const ROOM_PURGE_CONCURRENCY = 20;

/**
 * One room call. A room deletes at most 1,000 small rows, so a call that takes longer is stuck; more
 * than an interactive call's 2 s (no client waits here, and the room may have to wake first), and
 * short enough that a whole run of stuck rooms ends within a minute.
 */
export const ROOM_PURGE_TIMEOUT_MS = 5_000;

/**
 * Exports expired per run, and R2 batches (1,000 keys listed and deleted) each may take: an export of
 * a million messages has ~250 objects, one batch; one of 25,000 parts takes five runs.
 */
export const MAX_EXPORT_EXPIRIES_PER_RUN = 20;
export const EXPORT_DELETE_BATCHES = 5;

/** How long an export may stay queued before the hourly run starts its job itself. */
export const EXPORT_START_GRACE_MS = 10 * 60 * 1000;

/** Exports in progress the hourly run looks after at most: each is a Workflow call or two. */
const MAX_EXPORTS_SUPERVISED_PER_RUN = 20;

export async function runRetention(config: Config, logger: Logger, now: Date): Promise<void> {
  // Per-query timeouts, read retries and the isolate's D1 breaker, as for requests; no deadline:
  // the caps bound the run.
  const db = guardD1(config.db, { telemetry: { dataset: config.metrics } });
  const at = now.toISOString();
  const eventsKeptSince = new Date(now.getTime() - EVENT_RETENTION_DAYS * 24 * 60 * 60 * 1000).toISOString();
  const purges: TablePurge[] = [
    [
      'idempotency_keys',
      'expired idempotency records',
      idempotencyKeys.IDEMPOTENCY_PURGE_BATCH_ROWS,
      () => idempotencyKeys.purgeExpiredIdempotencyKeys(db, at),
    ],
    [
      'signature_nonces',
      'signature nonces past their window',
      signatureNonces.SIGNATURE_NONCE_PURGE_BATCH_ROWS,
      () => signatureNonces.purgeExpiredNonces(db, at),
    ],
    [
      'device_connections',
      'device connections of sessions whose messages are purged',
      deviceConnections.DEVICE_CONNECTION_PURGE_BATCH_ROWS,
      () => deviceConnections.purgeEndedDeviceConnections(db),
    ],
    [
      'session_key_grants',
      'session key grants past their expiry',
      sessionKeyGrants.SESSION_KEY_GRANT_PURGE_BATCH_ROWS,
      () => sessionKeyGrants.purgeExpiredSessionKeyGrants(db, at),
    ],
    [
      'audit_events',
      'audit events past their plan retention',
      auditEvents.AUDIT_EVENT_PURGE_BATCH_ROWS,
      () => auditEvents.purgeExpiredAuditEvents(db, at),
    ],
    ['events', 'events past their 30 days', events.EVENT_PURGE_BATCH_ROWS, () => events.purgeExpiredEvents(db, eventsKeptSince)],
    [
      'webhook_attempts',
      'webhook attempts past their 30 days',
      webhookAttempts.WEBHOOK_ATTEMPT_PURGE_BATCH_ROWS,
      () => webhookAttempts.purgeOldAttempts(db, eventsKeptSince),
    ],
    [
      'webhook_deliveries',
      'settled webhook deliveries past their 30 days',
      webhookDeliveries.WEBHOOK_DELIVERY_PURGE_BATCH_ROWS,
      () => webhookDeliveries.purgeSettledDeliveries(db, eventsKeptSince),
    ],
  ];
  for (const [table, what, batchRows, deleteBatch] of purges) await purgeTable(logger, table, what, batchRows, deleteBatch);
  await purgeMessageRings(db, roomsOf(config), logger, now);
  await purgeTable(
    logger,
    'webhook_endpoints',
    'webhook secrets past their rotation overlap',
    webhookEndpoints.WEBHOOK_SECRET_UPKEEP_BATCH_ROWS,
    () => webhookEndpoints.clearExpiredPreviousSecrets(db, at),
  );
  await resealWebhookSecrets(db, config, logger);
  await resumeErasures(db, config, logger, now);
  await expireExports(db, config, logger, at);
  await superviseExports(db, config, logger, now);
}

/**
 * Erasures looked at per run, of each kind: up to three Workflow calls each (find the instance,
 * read its status, start or restart it), 120 of the run's subrequests with the two D1 reads. An
 * erasure under way is rare; a backlog drains over the following runs.
 */
export const MAX_ERASURES_RESUMED_PER_RUN = 20;

/**
 * A device erasure younger than this is left to the job its request started: it may not have
 * removed its row yet. Organisations need no such wait: their row goes only at the very end.
 */
const DEVICE_ERASURE_GRACE_MS = 60 * 60 * 1000;

/**
 * Makes sure each erasure under way (an organisation marked erased, a pending device erasure) has
 * its job at work, and logs what it did. A failure is logged and left to the next run.
 */
async function resumeErasures(db: D1Database, config: Config, logger: Logger, now: Date): Promise<void> {
  let pending: ErasureParams[];
  try {
    const orgIds = await organizations.organizationsBeingErased(db, MAX_ERASURES_RESUMED_PER_RUN);
    const devices = await deviceErasures.pendingDeviceErasures(
      db,
      new Date(now.getTime() - DEVICE_ERASURE_GRACE_MS).toISOString(),
      MAX_ERASURES_RESUMED_PER_RUN,
    );
    pending = [
      ...orgIds.map((orgId): ErasureParams => ({ kind: 'organization', orgId })),
      ...devices.map(({ orgId, deviceId }): ErasureParams => ({ kind: 'device', orgId, deviceId })),
    ];
  } catch (error) {
    logger.error('retention: could not list the erasures under way', { table: 'organizations', error });
    return;
  }
  const counts: Record<ErasureResumption | 'failed', number> = { started: 0, restarted: 0, running: 0, failed: 0 };
  for (const params of pending) {
    try {
      counts[await resumeErasure(config.erasure, params)] += 1;
    } catch (error) {
      counts.failed += 1;
      logger.warn('retention: could not resume an erasure; next run tries again', { ...params, error });
    }
  }
  const line = counts.started + counts.restarted + counts.failed > 0 ? logger.warn : logger.info;
  line.call(logger, 'retention: erasures under way', { table: 'organizations', ...counts });
}

/** Deletes the objects of exports past their expiry and marks them expired; one left half-deleted is finished next run. */
async function expireExports(db: D1Database, config: Config, logger: Logger, at: string): Promise<void> {
  let expired = 0;
  let objects = 0;
  let unfinished = 0;
  try {
    const due = await organizationExports.exportsToExpire(db, at, MAX_EXPORT_EXPIRIES_PER_RUN);
    for (const { id, orgId } of due) {
      const deleted = await exportObjects.deleteExportObjects(config.exports, orgId, id, EXPORT_DELETE_BATCHES);
      objects += deleted.deleted;
      if (!deleted.done) {
        unfinished += 1;
        continue;
      }
      await organizationExports.markExpired(db, id).run();
      expired += 1;
    }
    logger.info('retention: deleted expired export archives', {
      table: 'organization_exports',
      expired,
      objects_deleted: objects,
      unfinished,
      more_left: due.length === MAX_EXPORT_EXPIRIES_PER_RUN,
    });
  } catch (error) {
    logger.error('retention: could not delete expired export archives', {
      table: 'organization_exports',
      expired,
      objects_deleted: objects,
      error,
    });
  }
}

/**
 * For each export queued or running since before the grace period: its job is started if it has
 * none (the request that queued it could not start it), and the export failed as `stalled` if its
 * job has ended (errored, terminated, or done without finishing it).
 */
async function superviseExports(db: D1Database, config: Config, logger: Logger, now: Date): Promise<void> {
  let started = 0;
  let stalled = 0;
  try {
    const due = await organizationExports.exportsInProgressSince(
      db,
      new Date(now.getTime() - EXPORT_START_GRACE_MS).toISOString(),
      MAX_EXPORTS_SUPERVISED_PER_RUN,
    );
    for (const { id, orgId } of due) {
      const params = { orgId, exportId: id };
      const instance = await config.exportWorkflow.get(id).catch(() => undefined);
      if (instance === undefined) {
        if (await startExportJob(config.exportWorkflow, params)) started += 1;
        continue;
      }
      const { status } = await instance.status();
      if (status === 'errored' || status === 'terminated' || status === 'complete') {
        await failOrganizationExport({ ...config, db }, params, 'stalled');
        stalled += 1;
      }
    }
    logger.info('retention: looked after exports in progress', { table: 'organization_exports', checked: due.length, started, stalled });
  } catch (error) {
    logger.error('retention: could not look after exports in progress', { table: 'organization_exports', started, stalled, error });
  }
}

/**
 * Seals anew, under the current storage secret, the webhook secrets still sealed under an earlier
 * one (STORAGE_ENCRYPTION_PREVIOUS_SECRETS), a batch of rows per run. One sealed under a secret no
 * longer configured cannot be opened: it is counted and logged as an error, and left as it is.
 */
async function resealWebhookSecrets(db: D1Database, config: Config, logger: Logger): Promise<void> {
  const keyring = await storageKeyring(config.storageSecrets.current, config.storageSecrets.previous);
  try {
    const stale = await webhookEndpoints.endpointsSealedWithOtherKeys(db, currentKeyPrefix(keyring));
    const statements: D1PreparedStatement[] = [];
    let unreadable = 0;
    for (const row of stale) {
      const context = webhookSecretSealingContext(row.orgId, row.id);
      const secret = await open(keyring, row.secretSealed, context);
      const previous = row.previousSecretSealed === null ? null : await open(keyring, row.previousSecretSealed, context);
      if (secret === undefined || previous === undefined) {
        unreadable += 1;
        continue;
      }
      const fresh = {
        secretSealed: await seal(keyring, secret, context),
        previousSecretSealed: previous === null ? null : await seal(keyring, previous, context),
      };
      statements.push(webhookEndpoints.replaceSealedSecrets(db, row, fresh));
    }
    const results = statements.length === 0 ? [] : await db.batch(statements);
    const resealed = results.reduce((sum, result) => sum + result.meta.changes, 0);
    const counts = {
      table: 'webhook_endpoints',
      resealed,
      unreadable,
      more_left: stale.length === webhookEndpoints.WEBHOOK_SECRET_UPKEEP_BATCH_ROWS,
    };
    if (unreadable > 0) {
      logger.error(
        'retention: webhook secrets sealed under a storage secret no longer configured; add it back to STORAGE_ENCRYPTION_PREVIOUS_SECRETS',
        counts,
      );
    } else {
      logger.info('retention: re-sealed webhook secrets under the current storage secret', counts);
    }
  } catch (error) {
    logger.error('retention: could not re-seal webhook secrets', { table: 'webhook_endpoints', error });
  }
}

/** A table's purge: its name, what it deletes (for the log line), rows per batch, and one batch's delete. */
type TablePurge = [table: string, what: string, batchRows: number, deleteBatch: () => Promise<number>];

/**
 * Deletes batch after batch until one comes back short (nothing left) or the run's share is used,
 * then logs what it did; a failure is logged with what was deleted before it.
 */
async function purgeTable(
  logger: Logger,
  table: string,
  what: string,
  batchRows: number,
  deleteBatch: () => Promise<number>,
): Promise<void> {
  let deleted = 0;
  let batches = 0;
  let lastBatch = batchRows;
  try {
    while (batches < MAX_BATCHES_PER_PURGE && lastBatch === batchRows) {
      lastBatch = await deleteBatch();
      batches += 1;
      deleted += lastBatch;
    }
  } catch (error) {
    logger.error(`retention: could not purge ${what}`, { table, deleted, batches, error });
    return;
  }
  logger.info(`retention: purged ${what}`, { table, deleted, batches, more_left: lastBatch === batchRows });
}

function roomsOf(config: Config): DurableObjectNamespace<SessionRoom> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  return config.sessionRooms as unknown as DurableObjectNamespace<SessionRoom>;
}

/**
 * Calls the room of each session over since before the grace period to erase its messages, and
 * marks those that answered. A room that fails or does not answer in time stays unmarked and is
 * called again next run; the others go on.
 */
async function purgeMessageRings(db: D1Database, rooms: DurableObjectNamespace<SessionRoom>, logger: Logger, now: Date): Promise<void> {
  const at = now.toISOString();
  let due: sessions.SessionRecord[];
  try {
    due = await sessions.sessionsAwaitingMessagePurge(
      db,
      new Date(now.getTime() - MESSAGE_RING_GRACE_MS).toISOString(),
      MAX_ROOM_PURGES_PER_RUN,
    );
  } catch (error) {
    logger.error('retention: could not list sessions whose messages are due for purging', { table: 'sessions', error });
    return;
  }
  let purged = 0;
  let failed = 0;
  let messages = 0;
  for (let start = 0; start < due.length; start += ROOM_PURGE_CONCURRENCY) {
    const group = due.slice(start, start + ROOM_PURGE_CONCURRENCY);
    const results = await Promise.allSettled(group.map((session) => purgeRoom(rooms, session, at)));
    const done: string[] = [];
    results.forEach((result, index) => {
      const sessionId = group[index]?.id;
      if (sessionId === undefined) return;
      if (result.status === 'fulfilled') {
        done.push(sessionId);
        messages += result.value;
      } else {
        failed += 1;
        logger.warn('retention: could not purge the messages of a session; next run tries again', {
          session_id: sessionId,
          error: result.reason,
        });
      }
    });
    if (done.length === 0) continue;
    try {
      await sessions.markMessagesPurged(db, done, at);
      purged += done.length;
    } catch (error) {
      // The rooms are empty already; unmarked, they are called again next run, which is harmless.
      failed += done.length;
      logger.error('retention: could not mark sessions whose messages were purged', { table: 'sessions', sessions: done.length, error });
    }
  }
  logger.info('retention: purged the messages of ended sessions', {
    table: 'sessions',
    purged,
    failed,
    messages_deleted: messages,
    more_left: due.length === MAX_ROOM_PURGES_PER_RUN,
  });
}

// Async, so that a stub that throws at once still fails this session alone.
async function purgeRoom(rooms: DurableObjectNamespace<SessionRoom>, session: sessions.SessionRecord, at: string): Promise<number> {
  // Every session listed is over, so it has a reason; a row ended without one was ended on request.
  const reason = sessions.effectiveSession(session, at).endReason ?? 'ended';
  const room = rooms.get(rooms.idFromName(session.id));
  return withTimeout(room.purgeMessages(reason), ROOM_PURGE_TIMEOUT_MS, `SessionRoom ${session.id}`);
}
