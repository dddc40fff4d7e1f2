/**
 * @module
 * Device records as the API shows them, and the headers that go with them.
 */
import type { z } from '@hono/zod-openapi';
import { type DeviceRecord, getDevice } from '../../db/devices.ts';
import { ApiError } from '../../errors.ts';
import { ifMatchHolds, versionEtag } from '../../lib/etag.ts';
import type { DeviceSchema } from '../../schemas/devices.ts';

export function presentDevice(device: DeviceRecord): z.infer<typeof DeviceSchema> {
  return {
    id: device.id,
    name: device.name,
    kind: device.kind,
    external_id: device.externalId,
    metadata: device.metadata,
    tags: device.tags,
    status: device.status,
    last_seen_at: device.lastSeenAt,
    created_at: device.createdAt,
    updated_at: device.updatedAt,
    version: device.version,
  };
}

export function deviceLocation(id: string): string {
  return `/v1/devices/${id}`;
}

/** The ETag header of a device response, documented once for every route that sends it. */
export const ETAG_HEADER = {
  ETag: {
    description: 'The entity tag of this version of the device, for `If-None-Match` and `If-Match`.',
    required: true,
    schema: { type: 'string', example: '"v3"' },
  },
} as const;

/** The device a PATCH or DELETE is about to change: 404 when absent, 412 when If-Match names another version. */
export async function deviceForChange(db: D1Database, orgId: string, id: string, ifMatch: string | undefined): Promise<DeviceRecord> {
  const current = await getDevice(db, orgId, id);
  if (!current) throw new ApiError('not_found', { detail: `No device ${id}.` });
  if (!ifMatchHolds(ifMatch, versionEtag(current.version))) {
    throw new ApiError('precondition_failed', {
      detail: `The device is at ${versionEtag(current.version)}; If-Match named another version.`,
    });
  }
  return current;
}
