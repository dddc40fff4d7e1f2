import { insertAuditEvent } from '../../db/audit-events.ts';
import { type DeviceRecord, insertDevice, isExternalIdConflict } from '../../db/devices.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import { newId } from '../../lib/ids.ts';
import { commitChange } from '../../middleware/idempotency.ts';
import { DeviceCreateSchema, DeviceSchema } from '../../schemas/devices.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { deviceLocation, ETAG_HEADER, presentDevice } from './present.ts';

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
    body: { required: true, content: { 'application/json': { schema: DeviceCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The device.',
      headers: { Location: { description: "The device's URL.", required: true, schema: { type: 'string' } }, ...ETAG_HEADER },
      content: { 'application/json': { schema: DeviceSchema } },
      links: {
        GetDevice: { operationId: 'getDevice', parameters: { id: '$response.body#/id' }, description: 'Read the device.' },
        UpdateDevice: { operationId: 'updateDevice', parameters: { id: '$response.body#/id' }, description: 'Change the device.' },
        DeleteDevice: { operationId: 'deleteDevice', parameters: { id: '$response.body#/id' }, description: 'Delete the device.' },
      },
    },
    409: problemResponse('Another device of the organisation has this `external_id` (`conflict`, naming the field).'),
  },
});

export function externalIdTaken(externalId: string | null): ApiError {
  return new ApiError('conflict', {
    detail: `Another device in this organisation has external_id ${JSON.stringify(externalId)}.`,
    errors: [{ location: 'body', pointer: '/external_id', detail: 'Already used by another device', code: 'duplicate' }],
  });
}

export const createDevice: AppRouteHandler<typeof createDeviceRoute> = async (c) => {
  const input = c.req.valid('json');
  const { orgId } = c.get('auth');
  const now = nowIso();
  const device: DeviceRecord = {
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
  const created = {
    status: 201,
    headers: { Location: deviceLocation(device.id), ETag: versionEtag(device.version) },
    json: presentDevice(device),
  };
  try {
    await commitChange(
      c,
      [
        insertDevice(db, device),
        insertAuditEvent(db, await auditContext(c), { action: 'device.created', targetType: 'device', targetId: device.id, at: now }),
      ],
      created,
    );
  } catch (error) {
    if (isExternalIdConflict(error)) throw externalIdTaken(device.externalId);
    throw error;
  }
  // Set only now: headers set before the change would also reach an error response rendered instead.
  c.header('Location', created.headers.Location);
  c.header('ETag', created.headers.ETag);
  return c.json(created.json, 201);
};
