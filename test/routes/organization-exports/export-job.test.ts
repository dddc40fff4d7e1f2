/**
 * The export Workflow's guarantees: a resource larger than a part is split into parts that together
 * hold every row once; a step that fails and is retried, or that runs twice, duplicates and loses no
 * line; progress is recorded part by part; an export whose step keeps failing ends `failed`, with
 * its event, and frees the organisation to ask again.
 */
import { introspectWorkflow, introspectWorkflowInstance } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { insertDevices } from '../../../scripts/lib/bench-scale/seed-rows.ts';
import * as organizationExports from '../../../src/db/organization-exports.ts';
import { createLogger } from '../../../src/lib/logger.ts';
import { runRetention } from '../../../src/scheduled.ts';
import { EMPTY_PROGRESS } from '../../../src/schemas/organization-exports.ts';
import { PART_MAX_LINES, writePart } from '../../../src/workflows/export-parts.ts';
import { downloadArchive, insertQueuedExport, readArchive, readExport, runExport, workerConfig } from '../../helpers/exports.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant } from '../../helpers/tenants.ts';

const DEVICES = PART_MAX_LINES + 700;

describe('the export Workflow', () => {
  it('splits a resource into parts, and a part retried after a failure repeats and loses no line', async () => {
    const tenant = await createTenant();
    await insertDevices(env.DB, tenant.orgId, 1, DEVICES);
    const done = await runExport(tenant, async (instance) => {
      await instance.disableRetryDelays();
      // The second part fails once, as a step whose Worker crashed would, and is retried.
      await instance.mockStepError({ name: 'devices part 2' }, new Error('simulated crash'), 1);
    });
    expect(done.status).toBe('succeeded');
    const archive = await readArchive(await downloadArchive(tenant, done.id));
    expect(archive.manifest.resources.devices.files.map((file) => [file.path, file.lines])).toEqual([
      ['devices/00001.ndjson', PART_MAX_LINES],
      ['devices/00002.ndjson', DEVICES - PART_MAX_LINES],
    ]);
    const ids = archive.lines.devices.map((device) => device.id);
    expect(new Set(ids).size).toBe(DEVICES);
    expect(ids).toEqual(Array.from({ length: DEVICES }, (_, index) => `dev_${String(index + 1).padStart(22, '0')}`));
    expect(done.progress.devices).toBe(DEVICES);
  });

  it('writes the same part, once, when a step runs twice, and records progress as it goes', async () => {
    const tenant = await createTenant();
    await insertDevices(env.DB, tenant.orgId, DEVICES + 1, DEVICES + 20);
    const exportId = await insertQueuedExport(tenant);
    const now = new Date().toISOString();
    await organizationExports.startExport(env.DB, exportId, now);
    const request = {
      orgId: tenant.orgId,
      exportId,
      resource: 'devices' as const,
      index: 1,
      cursor: null,
      readAt: now,
      progress: EMPTY_PROGRESS,
    };
    const first = await writePart(workerConfig(), request);
    const again = await writePart(workerConfig(), request);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ lines: 20, next: null });
    const objects = await env.EXPORTS.list({ prefix: `orgs/${tenant.orgId}/exports/${exportId}/` });
    expect(objects.objects.map((object) => object.key)).toEqual([`orgs/${tenant.orgId}/exports/${exportId}/parts/devices/00001.ndjson`]);
    const stored = await (await env.EXPORTS.get(objects.objects[0]?.key ?? ''))?.text();
    expect(stored?.split('\n').filter(Boolean)).toHaveLength(20);
    // Progress while it runs: what the parts written so far hold.
    const running = await readExport(tenant, exportId);
    expect(running).toMatchObject({ status: 'running', progress: { ...EMPTY_PROGRESS, devices: 20 }, archive_url: null });
    await expectProblem(await downloadArchive(tenant, exportId), 409, 'export_not_ready');
  });

  it('fails the export once a step has used up its retries, emits the failure, and lets the organisation ask again', async () => {
    const tenant = await createTenant();
    const failed = await runExport(tenant, async (instance) => {
      await instance.disableRetryDelays();
      await instance.mockStepError({ name: 'sessions part 1' }, new Error('storage down'));
    });
    expect(failed).toMatchObject({ status: 'failed', error_code: 'step_failed', archive_url: null });
    await expectProblem(await downloadArchive(tenant, failed.id), 409, 'export_not_ready');
    const events = await tenant.api.GET('/v1/events', { params: { query: { type: 'organization_export.failed' } } });
    expect(events.data?.data.map((event) => event.data)).toEqual([failed]);
    const next = await runExport(tenant);
    expect(next.status).toBe('succeeded');
    const succeeded = await tenant.api.GET('/v1/events', { params: { query: { type: 'organization_export.succeeded' } } });
    expect(succeeded.data?.data.map((event) => event.data)).toEqual([next]);
  });

  it('the hourly run starts the job of an export left queued, and fails one whose job ended without finishing it', async () => {
    const tenant = await createTenant();
    const longAgo = new Date(Date.now() - 60 * 60 * 1000).toISOString();
    // Queued an hour ago, and its request never started its job.
    const orphan = await insertQueuedExport(tenant, longAgo);
    const introspector = await introspectWorkflow(env.EXPORT_WORKFLOW);
    try {
      await runRetention(workerConfig(), createLogger('error'), new Date());
      const [instance] = await introspector.get();
      await instance?.waitForStatus('complete');
    } finally {
      await introspector.dispose();
    }
    expect((await readExport(tenant, orphan)).status).toBe('succeeded');

    // A job that ended (here: its first step kept failing, before the export was marked running) while the row still says queued.
    const stalled = await insertQueuedExport(tenant, longAgo);
    const instance = await introspectWorkflowInstance(env.EXPORT_WORKFLOW, stalled);
    try {
      await instance.modify(async (m) => {
        await m.disableRetryDelays();
        await m.mockStepError({ name: 'start' }, new Error('D1 down'));
      });
      await env.EXPORT_WORKFLOW.create({ id: stalled, params: { orgId: tenant.orgId, exportId: stalled } });
      await instance.waitForStatus('errored');
      // While the instance is still introspected: disposing of it forgets the instance.
      await runRetention(workerConfig(), createLogger('error'), new Date());
    } finally {
      await instance.dispose();
    }
    expect(await readExport(tenant, stalled)).toMatchObject({ status: 'failed', error_code: 'stalled' });
    const failed = await tenant.api.GET('/v1/events', { params: { query: { type: 'organization_export.failed' } } });
    expect(failed.data?.data.map((event) => (event.data as { id: string }).id)).toEqual([stalled]);
  });
});
