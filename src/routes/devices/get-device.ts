import { z } from '@hono/zod-openapi';
import { noneMatchHits, versionEtag } from '../../lib/etag.ts';
import { DEVICE_ETAG_HEADER, DevicePathSchema, DeviceSchema } from '../../schemas/devices.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { loadDevice } from './load.ts';
import { presentDevice } from './present.ts';

export const getDeviceRoute = defineRoute({
  method: 'get',
  path: '/v1/devices/{id}',
  operationId: 'getDevice',
  tags: ['Devices'],
  summary: 'Get a device',
  description: 'A device of the organisation, with its `ETag`. With `If-None-Match` naming the current tag, 304 and no body.',
  scope: 'devices:read',
  rateLimit: 'read',
  request: {
    params: DevicePathSchema,
    headers: z.object({
      'If-None-Match': z
        .string()
        .max(1024)
        .optional()
        // No example: the reference would send it on "Test Request", and a match is a 304 with no body.
        .openapi({ description: 'ETags you already have (or `*`): a match answers 304 Not Modified.' }),
    }),
  },
  responses: {
    200: { description: 'The device.', headers: DEVICE_ETAG_HEADER, content: { 'application/json': { schema: DeviceSchema } } },
    304: { description: 'Not modified: `If-None-Match` names the current version.', headers: DEVICE_ETAG_HEADER },
  },
});

export const getDevice: AppRouteHandler<typeof getDeviceRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const device = await loadDevice(c.get('config').db, c.get('auth').orgId, id);
  const etag = versionEtag(device.version);
  c.header('ETag', etag);
  if (noneMatchHits(c.req.valid('header')['If-None-Match'], etag)) return c.body(null, 304);
  return c.json(presentDevice(device), 200);
};
