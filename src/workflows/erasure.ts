/**
 * @module
 * The erasure job: an organisation's (`DELETE /v1/organization`), or a deleted device's messages
 * (`DELETE /v1/devices/{id}?erase=true`), deleted in durable steps.
 *
 * Why a Workflow and not a Queue consumer (webhook delivery uses a Queue): an erasure is one long
 * sequence of dependent phases (rooms before the rows that find them, children before parents,
 * the organisation's row last), and a Workflow keeps where it is between steps and retries a
 * failed step on its own with backoff, where a Queue would have each message carry the progress
 * and re-enqueue the rest; each step runs with its own CPU budget (30 s by default) and its own
 * subrequests, and the whole job's progress and failures are visible per instance
 * (`wrangler workflows instances describe`). The toolchain supports it in tests
 * (`introspectWorkflowInstance`: a step can be made to fail, and the instance be awaited).
 *
 * Each step deletes a bounded batch and is safe to repeat: it re-reads what is left rather than
 * trusting a cursor, so a step retried after it half ran, or a whole instance restarted, deletes
 * only what the first try left. Bounds per step: one page of {@link SESSIONS_PER_STEP} sessions (a
 * room call each, {@link ROOM_CONCURRENCY} at a time, then one D1 batch), one page of up to 1,000
 * archive objects (one R2 list and one delete), or {@link STATEMENTS_PER_STEP} statements of
 * {@link ROWS_PER_STATEMENT} rows. A large organisation (100,000 devices, 100,000 sessions, a few
 * million audit events and events) is ~2,000 steps of sessions and ~1,000 of rows, well within a
 * Workflow's 10,000 steps (Workers Paid; a step's CPU stays in milliseconds: the work is in D1 and
 * the rooms). An instance that fails for good (a step out of retries, or the step limit) is
 * restarted by the hourly run (scheduled.ts), and starts over on what is left.
 *
 * Instance ids are fixed by what is erased (start-erasure.ts), so starting one twice is refused by
 * the Workflow and changes nothing.
 */
import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep, type WorkflowStepConfig } from 'cloudflare:workers';
import { NonRetryableError } from 'cloudflare:workflows';
import * as deviceConnections from '../db/device-connections.ts';
import * as deviceErasures from '../db/device-erasures.ts';
import * as erasure from '../db/organization-erasure.ts';
import * as organizations from '../db/organizations.ts';
import type { SessionRoom } from '../durable-objects/session-room.ts';
import { type Bindings, type Config, loadConfig } from '../env.ts';
import { withTimeout } from '../lib/resilience.ts';
import type { ErasureParams } from './start-erasure.ts';

/** What an organisation's erasure did, as its instance's output. */
export interface OrganizationErasureOutput {
  sessions: number;
  archives: number;
  rows: number;
}

/** What a device's erasure did: how many of its messages it removed from history. */
export interface DeviceErasureOutput {
  messages: number;
}

/** Sessions (rooms) erased per step. */
export const SESSIONS_PER_STEP = 50;
/** Room calls made at once: each mostly waits on its room. */
const ROOM_CONCURRENCY = 25;
/** One room call: the room deletes a bounded history, so longer means it is stuck (the step is retried). */
const ROOM_CALL_TIMEOUT_MS = 10_000;
/** Rows one DELETE removes at most: D1 runs one statement at a time, so each is kept short (~25 ms for 1,000 audit events). */
export const ROWS_PER_STATEMENT = 1_000;
/** DELETE statements per step: 5,000 rows, a few hundred ms of D1 time. */
export const STATEMENTS_PER_STEP = 5;
/** Objects listed and deleted per step: R2's most for one list and one delete. */
const ARCHIVES_PER_STEP = 1_000;

/** Retried with backoff: 10 s, 20 s, 40 s… about 2.8 hours over 10 tries, enough to outlast an outage of D1 or a room. */
export const STEP_CONFIG: WorkflowStepConfig = {
  retries: { limit: 10, delay: '10 seconds', backoff: 'exponential' },
  timeout: '5 minutes',
};

/** Where an organisation's export archives are kept (the export job writes under it). */
export function archivePrefix(orgId: string): string {
  return `orgs/${orgId}/`;
}

function roomsOf(config: Config): DurableObjectNamespace<SessionRoom> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  return config.sessionRooms as unknown as DurableObjectNamespace<SessionRoom>;
}

/** Calls every session's room, {@link ROOM_CONCURRENCY} at a time; any failure fails the step (which is retried). */
async function callRooms<T>(
  config: Config,
  sessionIds: readonly string[],
  call: (room: DurableObjectStub<SessionRoom>) => Promise<T>,
): Promise<T[]> {
  const rooms = roomsOf(config);
  const results: T[] = [];
  for (let start = 0; start < sessionIds.length; start += ROOM_CONCURRENCY) {
    const group = sessionIds.slice(start, start + ROOM_CONCURRENCY);
    results.push(
      ...(await Promise.all(
        group.map((id) => withTimeout(call(rooms.get(rooms.idFromName(id))), ROOM_CALL_TIMEOUT_MS, `SessionRoom ${id}`)),
      )),
    );
  }
  return results;
}

/** Runs `step.do(name #n)` until it reports it is done (`true`), and returns the sum of what each counted. */
async function repeatSteps(step: WorkflowStep, name: string, work: () => Promise<{ count: number; done: boolean }>): Promise<number> {
  let total = 0;
  for (let index = 1; ; index += 1) {
    const { count, done } = await step.do(`${name} #${index}`, STEP_CONFIG, work);
    total += count;
    if (done) return total;
  }
}

/**
 * Closes the sockets and erases the storage of every session's room (`SessionRoom.erase`: close
 * code 4010), then deletes the sessions and the rows that refer to them; a page at a time, the
 * rooms of a page before its rows (the rows are how its rooms are found). Done first, so sockets
 * close within the job's first seconds.
 */
function eraseSessions(config: Config, step: WorkflowStep, orgId: string): Promise<number> {
  return repeatSteps(step, 'sessions', async () => {
    const sessionIds = await erasure.sessionPage(config.db, orgId, SESSIONS_PER_STEP);
    if (sessionIds.length === 0) return { count: 0, done: true };
    await callRooms(config, sessionIds, (room) => room.erase());
    await config.db.batch(erasure.deleteSessions(config.db, orgId, sessionIds));
    return { count: sessionIds.length, done: sessionIds.length < SESSIONS_PER_STEP };
  });
}

/** Deletes the organisation's export archives: a listed page at a time, always the first (what was deleted is no longer listed). */
function eraseArchives(config: Config, step: WorkflowStep, orgId: string): Promise<number> {
  return repeatSteps(step, 'archives', async () => {
    const listed = await config.exports.list({ prefix: archivePrefix(orgId), limit: ARCHIVES_PER_STEP });
    const keys = listed.objects.map((object) => object.key);
    if (keys.length > 0) await config.exports.delete(keys);
    return { count: keys.length, done: !listed.truncated };
  });
}

/** Deletes one table's rows of the organisation, {@link STATEMENTS_PER_STEP} statements per step, until one comes back short. */
function eraseTable(config: Config, step: WorkflowStep, orgId: string, table: erasure.OrganizationTable): Promise<number> {
  return repeatSteps(step, table, async () => {
    let count = 0;
    for (let statement = 0; statement < STATEMENTS_PER_STEP; statement += 1) {
      const deleted = (await erasure.deleteOrganizationRows(config.db, table, orgId, ROWS_PER_STATEMENT).run()).meta.changes;
      count += deleted;
      if (deleted < ROWS_PER_STATEMENT) return { count, done: true };
    }
    return { count, done: false };
  });
}

async function eraseOrganization(config: Config, step: WorkflowStep, orgId: string): Promise<OrganizationErasureOutput> {
  const sessions = await eraseSessions(config, step, orgId);
  const archives = await eraseArchives(config, step, orgId);
  let rows = 0;
  for (const table of erasure.ORGANIZATION_TABLES) rows += await eraseTable(config, step, orgId, table);
  // Last, in one batch: whatever a late writer added since each table's turn (a webhook attempt
  // recorded by a delivery already under way), then the row itself. A row still left would fail
  // the batch on its foreign key, and the step is retried.
  rows += await step.do('organization', STEP_CONFIG, async () => {
    const results = await config.db.batch([
      ...erasure.ORGANIZATION_TABLES.map((table) => erasure.deleteOrganizationRows(config.db, table, orgId, ROWS_PER_STATEMENT)),
      organizations.deleteErasedOrganization(config.db, orgId),
    ]);
    return results.reduce((sum, result) => sum + result.meta.changes, 0);
  });
  return { sessions, archives, rows };
}

/**
 * Removes the device's messages from the rooms of every session it connected to
 * (`SessionRoom.eraseParticipant`), a page of sessions per step, forgetting each page's
 * connections once its rooms are done; then the pending erasure's row.
 */
async function eraseDevice(config: Config, step: WorkflowStep, orgId: string, deviceId: string): Promise<DeviceErasureOutput> {
  const messages = await repeatSteps(step, 'sessions', async () => {
    const sessionIds = await deviceConnections.sessionsOfDevice(config.db, orgId, deviceId, SESSIONS_PER_STEP);
    if (sessionIds.length === 0) return { count: 0, done: true };
    const erased = await callRooms(config, sessionIds, (room) => room.eraseParticipant(deviceId));
    await deviceConnections.deleteDeviceConnections(config.db, orgId, deviceId, sessionIds).run();
    return { count: erased.reduce((sum, count) => sum + count, 0), done: sessionIds.length < SESSIONS_PER_STEP };
  });
  await step.do('done', STEP_CONFIG, async () => {
    await deviceErasures.deleteDeviceErasure(config.db, orgId, deviceId).run();
  });
  return { messages };
}

export class ErasureWorkflow extends WorkflowEntrypoint<Bindings, ErasureParams> {
  override async run(event: Readonly<WorkflowEvent<ErasureParams>>, step: WorkflowStep): Promise<unknown> {
    const loaded = loadConfig(this.env);
    // Retrying cannot fix a configuration; the hourly run restarts the job once it is fixed.
    if (!loaded.ok) throw new NonRetryableError(`invalid configuration: ${loaded.problems.join('; ')}`);
    const params = event.payload;
    if (params.kind === 'organization') return eraseOrganization(loaded.config, step, params.orgId);
    return eraseDevice(loaded.config, step, params.orgId, params.deviceId);
  }
}
