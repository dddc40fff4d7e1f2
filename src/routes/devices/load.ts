/**
 * @module
 * Reading the device a request names: 404 when it is not the organisation's, 412 when `If-Match`
 * names another version.
 */
import * as devices from '../../db/devices.ts';
import { notFound, requireIfMatch } from '../../errors.ts';

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
  requireIfMatch(ifMatch, current.version, 'device');
  return current;
}
