import * as devices from '../../db/devices.ts';
import { FILTERED_PAGE_SCAN_ROWS } from '../../db/page.ts';
import type { CursorPosition } from '../../lib/cursor.ts';
import { DeviceListQuerySchema, DeviceListSchema } from '../../schemas/devices.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { listBody } from '../pagination.ts';
import { presentDevice } from './present.ts';

const LIST = 'devices';
const SCAN_ROWS = FILTERED_PAGE_SCAN_ROWS.toLocaleString('en');

export const listDevicesRoute = defineRoute({
  method: 'get',
  path: '/v1/devices',
  operationId: 'listDevices',
  tags: ['Devices'],
  summary: 'List devices',
  description:
    "The organisation's devices in registration order (then id), a page at a time, filtered by `status`, `kind`, `tag` and `q`. Devices registered while you page appear at the end; none is skipped or repeated. " +
    `A filtered page examines at most ${SCAN_ROWS} devices, so a rare match can take several pages, some of them empty: follow \`next_cursor\` until it is \`null\`.`,
  scope: 'devices:read',
  rateLimit: 'read',
  request: { query: DeviceListQuerySchema },
  responses: {
    200: { description: 'A page of devices.', content: { 'application/json': { schema: DeviceListSchema } } },
  },
});

export const listDevices: AppRouteHandler<typeof listDevicesRoute> = async (c) => {
  const { limit, cursor, status, kind, tag, q } = c.req.valid('query');
  const { orgId } = c.get('auth');
  const read = (after: CursorPosition | undefined) =>
    devices.listDevices(c.get('config').db, orgId, { status, kind, tag, q }, limit, after);
  return c.json(await listBody(orgId, LIST, cursor, read, presentDevice), 200);
};
