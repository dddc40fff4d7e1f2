/**
 * @module
 * The archive as one tar stream, assembled from the stored parts at download time: the manifest,
 * `SHA256SUMS`, then every part in the manifest's order. Every entry's size is known from the
 * manifest before the first byte is sent, so the archive's length is too (`Content-Length`), and
 * each part's bytes are piped from R2 without passing through JavaScript: the Worker holds one
 * header block at a time, whatever the archive's size.
 */
import * as exportObjects from '../../db/export-objects.ts';
import { tarEnd, tarHeader, tarLength, tarPadding } from '../../lib/tar.ts';
import { EXPORT_RESOURCES, type ExportManifest } from '../../schemas/organization-exports.ts';

type ArchiveEntry = { name: string; size: number } & ({ bytes: Uint8Array } | { key: string });

/** The directory every entry sits under, so unpacking makes one folder. */
export function archiveDirectory(exportId: string): string {
  return `switchyard-export-${exportId}`;
}

export function archiveFilename(exportId: string): string {
  return `${archiveDirectory(exportId)}.tar`;
}

/** `sha256sum -c` reads this: one `<hex>  <path>` line per data file. */
function sha256Sums(manifest: ExportManifest): string {
  return EXPORT_RESOURCES.flatMap((resource) => manifest.resources[resource].files.map((file) => `${file.sha256}  ${file.path}\n`)).join(
    '',
  );
}

function archiveEntries(manifest: ExportManifest): ArchiveEntry[] {
  const directory = archiveDirectory(manifest.export_id);
  const encoder = new TextEncoder();
  const manifestBytes = encoder.encode(`${JSON.stringify(manifest, null, 2)}\n`);
  const sums = encoder.encode(sha256Sums(manifest));
  const parts = EXPORT_RESOURCES.flatMap((resource) =>
    manifest.resources[resource].files.map((file) => ({
      name: `${directory}/${file.path}`,
      size: file.bytes,
      key: exportObjects.partKey(manifest.organization_id, manifest.export_id, file.path),
    })),
  );
  return [
    { name: `${directory}/manifest.json`, size: manifestBytes.length, bytes: manifestBytes },
    { name: `${directory}/SHA256SUMS`, size: sums.length, bytes: sums },
    ...parts,
  ];
}

/** The archive's size in bytes. */
export function archiveSize(manifest: ExportManifest): number {
  return tarLength(archiveEntries(manifest).map((entry) => entry.size));
}

/**
 * The archive as a stream of exactly {@link archiveSize} bytes, written while the caller reads it.
 * A part that is gone (deleted by expiry mid-download) or shorter than the manifest says aborts the
 * stream: the client sees a truncated response, never a tar that looks whole.
 */
export function archiveStream(bucket: R2Bucket, manifest: ExportManifest): { body: ReadableStream; size: number; written: Promise<void> } {
  const entries = archiveEntries(manifest);
  const size = tarLength(entries.map((entry) => entry.size));
  const { readable, writable } = new FixedLengthStream(size);
  const modifiedAt = new Date(manifest.completed_at);
  const write = async (bytes: Uint8Array) => {
    const writer = writable.getWriter();
    try {
      await writer.write(bytes);
    } finally {
      writer.releaseLock();
    }
  };
  const written = (async () => {
    for (const entry of entries) {
      await write(tarHeader(entry.name, entry.size, modifiedAt));
      if ('bytes' in entry) {
        await write(entry.bytes);
      } else {
        const body = await exportObjects.getPart(bucket, entry.key);
        if (body === undefined) throw new Error(`export part ${entry.key} is gone`);
        await body.pipeTo(writable, { preventClose: true });
      }
      const padding = tarPadding(entry.size);
      if (padding.length > 0) await write(padding);
    }
    await write(tarEnd());
    await writable.close();
  })().catch(async (error: unknown) => {
    await writable.abort(error).catch(() => undefined);
    throw error;
  });
  return { body: readable, size, written };
}
