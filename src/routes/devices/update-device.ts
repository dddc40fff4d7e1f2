import * as devices from '../../db/devices.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import {
  DEVICE_ETAG_HEADER,
  DEVICE_UPDATE_EXAMPLE,
  DeviceIfMatchHeaderSchema,
  DevicePathSchema,
  DeviceSchema,
  DeviceUpdateSchema,
} from '../../schemas/devices.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { disconnectDevice } from '../sessions/room.ts';
import { loadDeviceForChange } from './load.ts';
import { externalIdConflict, presentDevice } from './present.ts';

/** Without If-Match, a write that lost a race is retried on the new version this many times. */
const ATTEMPTS = 3;

export const updateDeviceRoute = defineRoute({
  method: 'patch',
  path: '/v1/devices/{id}',
  operationId: 'updateDevice',
  tags: ['Devices'],
  summary: 'Update a device',
  description:
    'Changes the given fields only; `metadata` and `tags` are replaced whole. With `If-Match`, only if the device has not changed since. Disabling a device closes its session sockets (close code 4003) before the answer, and its connect tokens stop working.',
  scope: 'devices:write',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: {
    params: DevicePathSchema,
    headers: DeviceIfMatchHeaderSchema,
    body: { required: true, content: { 'application/json': { schema: DeviceUpdateSchema, example: DEVICE_UPDATE_EXAMPLE } } },
  },
  responses: {
    200: { description: 'The device as changed.', headers: DEVICE_ETAG_HEADER, content: { 'application/json': { schema: DeviceSchema } } },
    409: problemResponse('Another device of the organisation has this `external_id` (`conflict`, naming the field).'),
    412: problemResponse('`If-Match` does not name the current version: read the device again.'),
    413: problemResponse(
      'The body is over the limit, or the device would take more than 64 KiB as JSON, the most its event may carry (`payload_too_large`).',
    ),
  },
});

export const updateDevice: AppRouteHandler<typeof updateDeviceRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const patch = c.req.valid('json');
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const current = await loadDeviceForChange(db, orgId, id, ifMatch);
    const now = nowIso();
    const next: devices.DeviceRecord = {
      ...current,
      name: patch.name ?? current.name,
      kind: patch.kind ?? current.kind,
      externalId: patch.external_id === undefined ? current.externalId : patch.external_id,
      metadata: patch.metadata ?? current.metadata,
      tags: patch.tags ?? current.tags,
      status: patch.status ?? current.status,
      updatedAt: now,
      version: current.version + 1,
    };
    const disabled = next.status === 'disabled' && current.status !== 'disabled';
    const updated = await commit(
      c,
      {
        statements: [
          devices.updateDevice(db, next, current.version),
          await auditEvent(c, 'device.updated', id, now, { onlyIfChanged: true }),
          changeEvent(c, 'device.updated', presentDevice(next), now, { onlyIfChanged: true }),
        ],
        conditional: true,
        conflict: externalIdConflict(next.externalId),
        // A disabled device keeps no live socket: it is closed in every open session it joined.
        afterCommit: disabled ? () => disconnectDevice(c, id, next.version) : undefined,
      },
      { status: 200, headers: { ETag: versionEtag(next.version) }, json: presentDevice(next) },
    );
    if (updated) return updated;
    // Changed or deleted since it was read: with If-Match that is the caller's conflict, without it read again.
    if (ifMatch !== undefined) {
      throw new ApiError('precondition_failed', { detail: 'The device changed while this update was made; read it again.' });
    }
  }
  throw new ApiError('conflict', { detail: 'The device kept changing while this update was made; try again.' });
};
