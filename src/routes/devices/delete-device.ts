import * as devices from '../../db/devices.ts';
import { ApiError, notFound } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { DeviceIfMatchHeaderSchema, DevicePathSchema } from '../../schemas/devices.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { disconnectDevice } from '../sessions/room.ts';
import { loadDeviceForChange } from './load.ts';
import { presentDevice } from './present.ts';

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
  idempotent: 'atomic',
  request: { params: DevicePathSchema, headers: DeviceIfMatchHeaderSchema },
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
  const current = await loadDeviceForChange(db, orgId, id, ifMatch);
  const now = nowIso();
  const deleted = await commit(
    c,
    {
      statements: [
        devices.deleteDevice(db, orgId, id, ifMatch === undefined ? undefined : current.version),
        await auditEvent(c, 'device.deleted', id, now, { onlyIfChanged: true }),
        changeEvent(c, 'device.deleted', presentDevice(current), now, { onlyIfChanged: true }),
      ],
      conditional: true,
      afterCommit: () => disconnectDevice(c, id),
    },
    { status: 204 },
  );
  if (deleted) return deleted;
  if (ifMatch !== undefined) {
    throw new ApiError('precondition_failed', { detail: 'The device changed while it was being deleted; read it again.' });
  }
  throw notFound('device', id);
};
