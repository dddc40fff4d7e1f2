/**
 * @module
 * The export job: a Cloudflare Workflow that writes an organisation's archive one bounded part at a
 * time (workflows/export-parts.ts), then its manifest, and marks the export succeeded, or failed
 * once a step has used up its retries.
 *
 * Why a Workflow and not a Queue consumer (as webhook delivery uses, src/delivery/): an export is a
 * long chain of steps, each depending on where the previous one stopped. A Workflow keeps that chain
 * for us: each `step.do` result (a part's cursor, counts and hash) is persisted, a crashed or evicted
 * instance resumes after the last step that completed, and a failed step is retried with backoff on
 * its own. A queue would need the cursor stored in D1, a message per step sent by the step before
 * (redelivered at least once, so every step would have to detect its own replays), and its own
 * record of which parts exist. Its limits fit: a step may use 30 s of CPU (a part takes far less:
 * bench/README.md), return 1 MiB (a part's result is ~200 bytes), and an instance may run 10,000
 * steps (the default; up to 25,000), i.e. ~50 million lines at 5,000 per part. Both run locally
 * under wrangler, and the test runtime introspects Workflows (step results, injected step failures).
 *
 * Guarantees: a step writes its part under a key derived from the export, the resource and the
 * part's number, from a cursor that the previous step's persisted result fixes, so a step that runs
 * again (retried after a crash, before or after it wrote) writes the same object once: no line is
 * lost or duplicated. Status changes are conditional on the status they leave, so they also hold
 * when repeated. An instance that stops without finishing is found by the hourly retention
 * (scheduled.ts), which starts one that never started and fails one that ended without a word.
 */
import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep, type WorkflowStepConfig } from 'cloudflare:workers';
import { dispatchEvents } from '../db/event-dispatch.ts';
import * as events from '../db/events.ts';
import * as exportObjects from '../db/export-objects.ts';
import * as organizationExports from '../db/organization-exports.ts';
import { type Bindings, type Config, type ExportJobParams, loadConfig } from '../env.ts';
import { isoAfter, nowIso } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { createLogger } from '../lib/logger.ts';
import { archiveSize } from '../routes/organization-exports/archive.ts';
import { presentExport } from '../routes/organization-exports/present.ts';
import {
  ARCHIVE_FORMAT_VERSION,
  EMPTY_PROGRESS,
  EXPORT_RESOURCES,
  EXPORT_RETENTION_DAYS,
  type ExportFailure,
  type ExportManifest,
  type ExportProgress,
  type ExportResource,
  type ManifestFile,
} from '../schemas/organization-exports.ts';
import { NEWEST_API_VERSION } from '../versions/versions.ts';
import { type PartCursor, type PartRequest, type PartResult, writePart } from './export-parts.ts';

/** Every step: retried 5 times, 10 s, 20 s, 40 s… apart; a part that takes 5 minutes is stuck. */
const STEP: WorkflowStepConfig = { retries: { limit: 5, delay: '10 seconds', backoff: 'exponential' }, timeout: '5 minutes' };

const RETENTION_MS = EXPORT_RETENTION_DAYS * 24 * 60 * 60 * 1000;

/** What the instance returns: how the export ended, for the Workflows dashboard and the tests. */
export interface ExportOutcome {
  status: 'succeeded' | 'failed' | 'not_in_progress';
  lines?: number;
}

function configOf(env: Bindings): Config {
  const loaded = loadConfig(env);
  // Thrown, the instance errors and is retried by no one: the hourly check marks the export stalled.
  if (!loaded.ok) throw new Error(`invalid configuration: ${loaded.problems.join('; ')}`);
  return loaded.config;
}

/**
 * Writes the export's change of status and its event in one batch, the event only if the status
 * changed (so a step that runs again emits nothing), then dispatches the organisation's events; a
 * dispatch that fails is left to the minutely sweep. `after` is the export as the change leaves it.
 * No audit row: the audit log records what API keys asked for (the export's request, each
 * download); the job's outcome is the export's own status and this event.
 */
async function changeStatus(config: Config, change: D1PreparedStatement, after: organizationExports.ExportRecord): Promise<void> {
  const type = after.status === 'succeeded' ? ('organization_export.succeeded' as const) : ('organization_export.failed' as const);
  const at = after.completedAt ?? nowIso();
  const event = { id: newId('event'), orgId: after.orgId, type, data: JSON.stringify(presentExport(after)), createdAt: at };
  await config.db.batch([change, events.insertEvent(config.db, event, { onlyIfChanged: true })]);
  await dispatchEvents(config, { orgId: after.orgId }).catch((error: unknown) =>
    createLogger(config.logLevel, { export_id: after.id }).warn('could not dispatch events; the sweep will', { error }),
  );
}

async function loadJobExport(config: Config, params: ExportJobParams): Promise<organizationExports.ExportRecord> {
  const record = await organizationExports.getExport(config.db, params.orgId, params.exportId);
  if (record === undefined) throw new Error(`export ${params.exportId} is gone`);
  return record;
}

async function writeManifest(
  config: Config,
  params: ExportJobParams,
  files: Record<ExportResource, ManifestFile[]>,
  progress: ExportProgress,
): Promise<number> {
  const record = await loadJobExport(config, params);
  const at = nowIso();
  const manifest: ExportManifest = {
    format: 'switchyard-organization-export',
    format_version: ARCHIVE_FORMAT_VERSION,
    // The dated version every line is rendered in (the newest: handlers know only it, docs/versioning.md).
    api_version: NEWEST_API_VERSION,
    export_id: params.exportId,
    organization_id: params.orgId,
    created_at: record.createdAt,
    completed_at: at,
    resources: Object.fromEntries(
      EXPORT_RESOURCES.map((resource) => [resource, { lines: progress[resource], files: files[resource] }]),
    ) as ExportManifest['resources'],
  };
  await exportObjects.putManifest(config.exports, manifest);
  const done = { at, expiresAt: isoAfter(RETENTION_MS, new Date(at)), sizeBytes: archiveSize(manifest), progress };
  const after = {
    ...record,
    status: 'succeeded' as const,
    completedAt: at,
    expiresAt: done.expiresAt,
    sizeBytes: done.sizeBytes,
    progress,
  };
  await changeStatus(config, organizationExports.completeExport(config.db, params.exportId, done), after);
  return done.sizeBytes;
}

/** Marks the export failed, with its event; for the job itself and the hourly check of stalled ones. */
export async function failOrganizationExport(config: Config, params: ExportJobParams, errorCode: ExportFailure): Promise<void> {
  const record = await loadJobExport(config, params);
  const at = nowIso();
  const failed = { at, expiresAt: isoAfter(RETENTION_MS, new Date(at)), errorCode };
  const after = { ...record, status: 'failed' as const, completedAt: at, expiresAt: failed.expiresAt, errorCode };
  await changeStatus(config, organizationExports.failExport(config.db, params.exportId, failed), after);
}

export class OrganizationExportWorkflow extends WorkflowEntrypoint<Bindings, ExportJobParams> {
  override async run(event: Readonly<WorkflowEvent<ExportJobParams>>, step: WorkflowStep): Promise<ExportOutcome> {
    const params = { orgId: event.payload.orgId, exportId: event.payload.exportId };
    const config = configOf(this.env);
    const readAt = await step.do('start', STEP, async () => {
      const started = await organizationExports.startExport(config.db, params.exportId, nowIso());
      return started?.startedAt ?? null;
    });
    if (readAt === null) return { status: 'not_in_progress' };
    const progress: ExportProgress = { ...EMPTY_PROGRESS };
    const files = Object.fromEntries(EXPORT_RESOURCES.map((resource) => [resource, [] as ManifestFile[]])) as Record<
      ExportResource,
      ManifestFile[]
    >;
    try {
      for (const resource of EXPORT_RESOURCES) {
        let cursor: PartCursor | null = null;
        for (let index = 1; ; index += 1) {
          const request: PartRequest = { ...params, resource, index, cursor, readAt, progress: { ...progress } };
          const part: PartResult = await step.do(`${resource} part ${index}`, STEP, () => writePart(config, request));
          if (part.sha256 !== null) {
            files[resource].push({
              path: exportObjects.partPath(resource, index),
              lines: part.lines,
              bytes: part.bytes,
              sha256: part.sha256,
            });
          }
          progress[resource] += part.lines;
          cursor = part.next;
          if (cursor === null) break;
        }
      }
      await step.do('finish', STEP, () => writeManifest(config, params, files, progress));
    } catch (error) {
      createLogger(config.logLevel, { export_id: params.exportId }).error('export failed: a step used up its retries', { error });
      await step.do('fail', STEP, () => failOrganizationExport(config, params, 'step_failed'));
      return { status: 'failed' };
    }
    return { status: 'succeeded', lines: Object.values(progress).reduce((sum, lines) => sum + lines, 0) };
  }
}
