import * as auditEvents from '../../db/audit-events.ts';
import * as deviceErasures from '../../db/device-erasures.ts';
import * as devices from '../../db/devices.ts';
import * as events from '../../db/events.ts';
import { ApiError, notFound } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { DeleteDeviceQuerySchema, DeviceIfMatchHeaderSchema, DevicePathSchema } from '../../schemas/devices.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { startErasure } from '../../workflows/start-erasure.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { disconnectDevice } from '../sessions/room.ts';
import { loadDeviceForChange } from './load.ts';
import { ERASED_DEVICE_NAME, erasedDevice, presentDevice } from './present.ts';

export const deleteDeviceRoute = defineRoute({
  method: 'delete',
  path: '/v1/devices/{id}',
  operationId: 'deleteDevice',
  tags: ['Devices'],
  summary: 'Delete a device',
  description: [
    'Removes the device; deleting it again is a 404. With `If-Match`, only if it has not changed since. Its session sockets are closed (close code 4003) before the answer, and its connect tokens stop working.',
    'With `erase=true` (GDPR art. 17) the device’s personal data goes too, not only its row. In the same transaction as the deletion: its audit events keep what was done, to which id, by which key and when, but lose the IP hash and User-Agent (`null`); its events (`device.created`, `device.updated`, `device.deleted`, kept 30 days) keep their shape but its name becomes `[erased]` and its `external_id`, `metadata` and `tags` are emptied; the deletion’s own `device.deleted` event carries it so redacted, and its audit event is redacted like the others. Then, in the background (within minutes), a job removes every message and presence announcement it sent from the retained history of every session it connected to; other participants’ messages stay, with their `seq`. Webhooks already delivered cannot be called back.',
  ].join('\n\n'),
  scope: 'devices:write',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: { params: DevicePathSchema, query: DeleteDeviceQuerySchema, headers: DeviceIfMatchHeaderSchema },
  responses: {
    204: { description: 'Deleted.' },
    412: problemResponse('`If-Match` does not name the current version: read the device again.'),
  },
});

export const deleteDevice: AppRouteHandler<typeof deleteDeviceRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const erase = c.req.valid('query').erase === 'true';
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db, erasure } = c.get('config');
  const current = await loadDeviceForChange(db, orgId, id, ifMatch);
  const now = nowIso();
  // Each statement after the DELETE is written only if the one before it changed a row; the
  // redactions come last and only once the erasure's row is there, so a refused deletion redacts nothing.
  const statements = [
    devices.deleteDevice(db, orgId, id, ifMatch === undefined ? undefined : current.version),
    ...(erase ? [deviceErasures.insertDeviceErasure(db, orgId, id, now)] : []),
    await auditEvent(c, 'device.deleted', id, now, { onlyIfChanged: true }),
    changeEvent(c, 'device.deleted', erase ? erasedDevice(current) : presentDevice(current), now, { onlyIfChanged: true }),
    ...(erase ? [auditEvents.redactDeviceAuditEvents(db, orgId, id), events.redactDeviceEvents(db, orgId, id, ERASED_DEVICE_NAME)] : []),
  ];
  const deleted = await commit(
    c,
    {
      statements,
      conditional: true,
      afterCommit: async () => {
        await disconnectDevice(c, id);
        if (!erase) return;
        // The erasure's row is committed: a job that cannot be started now is started by the hourly run.
        await startErasure(erasure, { kind: 'device', orgId, deviceId: id }).catch((error: unknown) =>
          c.get('logger').error('could not start the erasure job; the hourly run will', { device_id: id, error }),
        );
      },
    },
    { status: 204 },
  );
  if (deleted) return deleted;
  if (ifMatch !== undefined) {
    throw new ApiError('precondition_failed', { detail: 'The device changed while it was being deleted; read it again.' });
  }
  throw notFound('device', id);
};
