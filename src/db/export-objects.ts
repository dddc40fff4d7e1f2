/**
 * @module
 * Where an export's archive is stored: R2 (the `EXPORTS` binding), every object of an export under
 * `orgs/{org_id}/exports/{export_id}/`, so that deleting `orgs/{org_id}/` removes every archive an
 * organisation has. Each part of a resource is an object of its own, written whole by one step of
 * the export job; the manifest is written last. Writing an object again replaces it, so a step that
 * runs twice leaves the same object once.
 */
import type { ExportManifest, ExportResource } from '../schemas/organization-exports.ts';

export function exportPrefix(orgId: string, exportId: string): string {
  return `orgs/${orgId}/exports/${exportId}/`;
}

/** A part's name within the archive and the manifest: `devices/00001.ndjson`. */
export function partPath(resource: ExportResource, index: number): string {
  return `${resource}/${String(index).padStart(5, '0')}.ndjson`;
}

export function partKey(orgId: string, exportId: string, path: string): string {
  return `${exportPrefix(orgId, exportId)}parts/${path}`;
}

function manifestKey(orgId: string, exportId: string): string {
  return `${exportPrefix(orgId, exportId)}manifest.json`;
}

export async function putPart(bucket: R2Bucket, key: string, body: Uint8Array, sha256: string): Promise<void> {
  await bucket.put(key, body, { httpMetadata: { contentType: 'application/x-ndjson' }, sha256 });
}

export async function putManifest(bucket: R2Bucket, manifest: ExportManifest): Promise<void> {
  await bucket.put(manifestKey(manifest.organization_id, manifest.export_id), JSON.stringify(manifest, null, 2), {
    httpMetadata: { contentType: 'application/json' },
  });
}

export async function getManifest(bucket: R2Bucket, orgId: string, exportId: string): Promise<ExportManifest | undefined> {
  const object = await bucket.get(manifestKey(orgId, exportId));
  return object === null ? undefined : ((await object.json()) as ExportManifest);
}

/** A part's bytes as a stream, or undefined when it is gone. */
export async function getPart(bucket: R2Bucket, key: string): Promise<ReadableStream<Uint8Array> | undefined> {
  const object = await bucket.get(key);
  return object === null ? undefined : object.body;
}

/** Keys one list and one delete take (R2's most for both). */
export const DELETE_BATCH_KEYS = 1_000;

/**
 * Deletes up to `maxBatches` batches of the export's objects; `done` once none is left. Listing
 * again after each delete (rather than following the list's cursor) sees what is still there.
 */
export async function deleteExportObjects(
  bucket: R2Bucket,
  orgId: string,
  exportId: string,
  maxBatches: number,
): Promise<{ deleted: number; done: boolean }> {
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch += 1) {
    const listed = await bucket.list({ prefix: exportPrefix(orgId, exportId), limit: DELETE_BATCH_KEYS });
    if (listed.objects.length === 0) return { deleted, done: true };
    await bucket.delete(listed.objects.map((object) => object.key));
    deleted += listed.objects.length;
    if (!listed.truncated) return { deleted, done: true };
  }
  return { deleted, done: false };
}
