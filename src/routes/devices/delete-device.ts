import { insertAuditEvent } from '../../db/audit-events.ts';
import { deleteDevice as removeDevice } from '../../db/devices.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { DevicePathSchema } from '../../schemas/devices.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { disconnectDevice } from '../sessions/room.ts';
import { deviceForChange } from './present.ts';
import { IfMatchHeaderSchema } from './update-device.ts';

export const deleteDeviceRoute = defineRoute({
  method: 'delete',
  path: '/v1/devices/{id}',
  operationId: 'deleteDevice',
  tags: ['Devices'],
  summary: 'Delete a device',
  description:
    'Removes the device; deleting it again is a 404. With `If-Match`, only if it has not changed since. Its session sockets are closed (close code 4003) before the answer, and its connect tokens stop working.',
  scope: 'devices:write',
  rateLimit: 'write',
  request: { params: DevicePathSchema, headers: IfMatchHeaderSchema },
  responses: {
    204: { description: 'Deleted.' },
    412: problemResponse('`If-Match` does not name the current version: read the device again.'),
  },
});

export const deleteDevice: AppRouteHandler<typeof deleteDeviceRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const current = await deviceForChange(db, orgId, id, ifMatch);
  const now = nowIso();
  const [deleted] = await db.batch([
    removeDevice(db, orgId, id, ifMatch === undefined ? undefined : current.version),
    insertAuditEvent(
      db,
      await auditContext(c),
      { action: 'device.deleted', targetType: 'device', targetId: id, at: now },
      { onlyIfChanged: true },
    ),
  ]);
  if (deleted?.meta.changes !== 1) {
    if (ifMatch !== undefined)
      throw new ApiError('precondition_failed', { detail: 'The device changed while it was being deleted; read it again.' });
    throw new ApiError('not_found', { detail: `No device ${id}.` });
  }
  await disconnectDevice(c, id);
  return c.body(null, 204);
};
