import * as devices from '../../db/devices.ts';
import { nowIso } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import { newId } from '../../lib/ids.ts';
import { DEVICE_CREATE_EXAMPLE, DEVICE_ETAG_HEADER, DeviceCreateSchema, DeviceSchema } from '../../schemas/devices.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { deviceLocation, externalIdConflict, presentDevice } from './present.ts';

export const createDeviceRoute = defineRoute({
  method: 'post',
  path: '/v1/devices',
  operationId: 'createDevice',
  tags: ['Devices'],
  summary: 'Register a device',
  description: 'Registers a device in the organisation. `external_id`, when given, must be unique in the organisation.',
  scope: 'devices:write',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: {
    body: { required: true, content: { 'application/json': { schema: DeviceCreateSchema, example: DEVICE_CREATE_EXAMPLE } } },
  },
  responses: {
    201: {
      description: 'The device.',
      headers: { ...locationHeader("The device's URL."), ...DEVICE_ETAG_HEADER },
      content: { 'application/json': { schema: DeviceSchema } },
      links: {
        GetDevice: { operationId: 'getDevice', parameters: { id: '$response.body#/id' }, description: 'Read the device.' },
        UpdateDevice: { operationId: 'updateDevice', parameters: { id: '$response.body#/id' }, description: 'Change the device.' },
        DeleteDevice: { operationId: 'deleteDevice', parameters: { id: '$response.body#/id' }, description: 'Delete the device.' },
      },
    },
    409: problemResponse('Another device of the organisation has this `external_id` (`conflict`, naming the field).'),
    413: problemResponse(
      'The body is over the limit, or the device would take more than 64 KiB as JSON, the most its event may carry (`payload_too_large`).',
    ),
  },
});

export const createDevice: AppRouteHandler<typeof createDeviceRoute> = async (c) => {
  const input = c.req.valid('json');
  const { orgId } = c.get('auth');
  const now = nowIso();
  const device: devices.DeviceRecord = {
    id: newId('device'),
    orgId,
    name: input.name,
    kind: input.kind,
    externalId: input.external_id ?? null,
    metadata: input.metadata ?? {},
    tags: input.tags ?? [],
    status: input.status ?? 'active',
    lastSeenAt: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  const { db } = c.get('config');
  return commit(
    c,
    {
      statements: [
        devices.insertDevice(db, device),
        await auditEvent(c, 'device.created', device.id, now),
        changeEvent(c, 'device.created', presentDevice(device), now),
      ],
      conflict: externalIdConflict(device.externalId),
    },
    {
      status: 201,
      headers: { Location: deviceLocation(device.id), ETag: versionEtag(device.version) },
      json: presentDevice(device),
    },
  );
};
