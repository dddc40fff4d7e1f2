/**
 * @module
 * Device records as the API shows them, and the headers that go with them.
 */
import type { z } from '@hono/zod-openapi';
import type { DeviceRecord } from '../../db/devices.ts';
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
