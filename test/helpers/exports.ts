/**
 * Running an organisation export in tests: asked for through the API, its Workflow run by the local
 * engine (introspected, so a test can inject step failures), and its archive downloaded and read
 * back with an independent tar reader (modern-tar), line by line.
 */
import { introspectWorkflow, type WorkflowInstanceIntrospector } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { unpackTar } from 'modern-tar';
import { expect } from 'vitest';
import type { components } from '../../generated/api.ts';
import * as organizationExports from '../../src/db/organization-exports.ts';
import { type Config, loadConfig } from '../../src/env.ts';
import { toHex } from '../../src/lib/encoding.ts';
import { newId } from '../../src/lib/ids.ts';
import { EMPTY_PROGRESS, EXPORT_RESOURCES, type ExportManifest, type ExportResource } from '../../src/schemas/organization-exports.ts';
import type { Tenant } from './tenants.ts';

export type OrganizationExport = components['schemas']['OrganizationExport'];

export interface Archive {
  manifest: ExportManifest;
  /** Every entry's text, by its path within the archive's directory. */
  files: Map<string, string>;
  /** Each resource's lines, parsed, in the archive's order. */
  lines: Record<ExportResource, Array<Record<string, unknown>>>;
}

type Modify = Parameters<WorkflowInstanceIntrospector['modify']>[0];

/** Asks for an export and waits for its Workflow to finish; `modify` changes the instance's steps first. */
export async function runExport(tenant: Tenant, modify?: Modify): Promise<OrganizationExport> {
  const introspector = await introspectWorkflow(env.EXPORT_WORKFLOW);
  try {
    if (modify) await introspector.modifyAll(modify);
    const created = await tenant.api.POST('/v1/organization/exports');
    expect(created.response.status, JSON.stringify(created.error)).toBe(202);
    const [instance] = await introspector.get();
    if (!instance) throw new Error('no export Workflow instance was started');
    await instance.waitForStatus('complete');
    return await readExport(tenant, created.data?.id ?? '');
  } finally {
    await introspector.dispose();
  }
}

export async function readExport(tenant: Tenant, id: string): Promise<OrganizationExport> {
  const read = await tenant.api.GET('/v1/organization/exports/{id}', { params: { path: { id } } });
  if (!read.data) throw new Error(`could not read export ${id}: ${JSON.stringify(read.error)}`);
  return read.data;
}

/** The download, as the generated client returns it: `data` is the archive's stream, `error` a problem. */
export function downloadArchive(tenant: Tenant, id: string) {
  return tenant.api.GET('/v1/organization/exports/{id}/archive', { params: { path: { id } }, parseAs: 'stream' });
}

/** Unpacks a downloaded archive and checks it against its own manifest and SHA256SUMS. */
export async function readArchive(download: Awaited<ReturnType<typeof downloadArchive>>): Promise<Archive> {
  expect(download.response.status).toBe(200);
  if (!download.data) throw new Error('no archive');
  const entries = await unpackTar(download.data);
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const [directory] = (entries[0]?.header.name ?? '').split('/');
  const files = new Map(entries.map((entry) => [entry.header.name.slice(`${directory}/`.length), decoder.decode(entry.data)]));
  const manifest = JSON.parse(files.get('manifest.json') ?? '{}') as ExportManifest;
  expect(directory).toBe(`switchyard-export-${manifest.export_id}`);
  const sums = (files.get('SHA256SUMS') ?? '').split('\n').filter((line) => line !== '');
  const lines = {} as Archive['lines'];
  for (const resource of EXPORT_RESOURCES) {
    lines[resource] = [];
    for (const file of manifest.resources[resource].files) {
      const text = files.get(file.path) ?? '';
      const digest = toHex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
      expect(digest, file.path).toBe(file.sha256);
      expect(sums).toContain(`${file.sha256}  ${file.path}`);
      expect(new TextEncoder().encode(text).length).toBe(file.bytes);
      const parsed = text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(parsed).toHaveLength(file.lines);
      lines[resource].push(...parsed);
    }
    expect(lines[resource]).toHaveLength(manifest.resources[resource].lines);
  }
  return { manifest, files, lines };
}

/** An export row written straight to D1, queued, with no job: for the states a test sets up itself. */
export async function insertQueuedExport(tenant: Tenant, createdAt = new Date().toISOString()): Promise<string> {
  const id = newId('organizationExport');
  await organizationExports
    .insertExport(env.DB, {
      id,
      orgId: tenant.orgId,
      status: 'queued',
      progress: EMPTY_PROGRESS,
      createdAt,
      createdBy: tenant.key.id,
      startedAt: null,
      completedAt: null,
      expiresAt: null,
      sizeBytes: null,
      errorCode: null,
    })
    .run();
  return id;
}

/** The Worker's parsed configuration, for calling the scheduled run or a step directly. */
export function workerConfig(): Config {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join('; '));
  return loaded.config;
}
