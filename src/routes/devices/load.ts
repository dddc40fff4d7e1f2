/**
 * @module
 * Reading the device a request names: 404 when it is not the organisation's, 412 when `If-Match`
 * names another version.
 */
import * as devices from '../../db/devices.ts';
import { ApiError, notFound } from '../../errors.ts';
import { ifMatchHolds, versionEtag } from '../../lib/etag.ts';

export async function loadDevice(db: D1Database, orgId: string, id: string): Promise<devices.DeviceRecord> {
  const device = await devices.getDevice(db, orgId, id);
  if (!device) throw notFound('device', id);
  return device;
}

/** The device a PATCH or DELETE is about to change. */
export async function loadDeviceForChange(
  db: D1Database,
  orgId: string,
  id: string,
  ifMatch: string | undefined,
): Promise<devices.DeviceRecord> {
  const current = await loadDevice(db, orgId, id);
  if (!ifMatchHolds(ifMatch, versionEtag(current.version))) {
    throw new ApiError('precondition_failed', {
      detail: `The device is at ${versionEtag(current.version)}; If-Match named another version.`,
    });
  }
  return current;
}
