/**
 * @module
 * Device records as the API shows them, and the conflict a change of one can run into.
 */
import type { z } from '@hono/zod-openapi';
import * as devices from '../../db/devices.ts';
import { ApiError } from '../../errors.ts';
import type { DeviceSchema } from '../../schemas/devices.ts';

export function presentDevice(device: devices.DeviceRecord): z.infer<typeof DeviceSchema> {
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

/** Maps the change's constraint violation to the caller's 409 when the `external_id` it sets is another device's. */
export function externalIdConflict(externalId: string | null): (error: unknown) => ApiError | undefined {
  return (error) =>
    devices.isExternalIdConflict(error)
      ? new ApiError('conflict', {
          detail: `Another device in this organisation has external_id ${JSON.stringify(externalId)}.`,
          errors: [{ location: 'body', pointer: '/external_id', detail: 'Already used by another device', code: 'duplicate' }],
        })
      : undefined;
}

/** The name an erased device has in what is kept of it (its events): a placeholder, never its own. */
export const ERASED_DEVICE_NAME = '[erased]';

/**
 * The device as its deletion's event presents it when it is erased (`erase=true`): without what may
 * identify a person (its name, `external_id`, `metadata`, `tags`); the fields db/events.ts
 * redactDeviceEvents blanks in its earlier events.
 */
export function erasedDevice(device: devices.DeviceRecord): z.infer<typeof DeviceSchema> {
  return { ...presentDevice(device), name: ERASED_DEVICE_NAME, external_id: null, metadata: {}, tags: [] };
}
