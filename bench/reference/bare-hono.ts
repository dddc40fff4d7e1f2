/**
 * Benchmark reference: a bare Hono Worker with the same routes as Switchyard and none of its
 * middleware (no request id, logging, security headers, CORS, limits, auth, rate limit,
 * idempotency or validation). The device routes run the very query functions Switchyard's
 * handlers run (src/db/devices.ts) against an identically seeded D1 database, for the
 * organisation named by the ORG_ID variable.
 */
import { Hono } from 'hono';
import { type DeviceRecord, getDevice, insertDevice, listDevices, type Metadata } from '../../src/db/devices.ts';
import { nowIso } from '../../src/lib/clock.ts';
import { newId } from '../../src/lib/ids.ts';
import type { DeviceKind } from '../../src/schemas/devices.ts';

export interface BareHonoEnv {
  DB: D1Database;
  ORG_ID: string;
}

interface DeviceBody {
  name: string;
  kind: DeviceKind;
  metadata?: Metadata;
  tags?: string[];
}

const app = new Hono<{ Bindings: BareHonoEnv }>();

app.get('/health', (c) => c.json({ status: 'ok' }));

app.get('/v1/devices/:id', async (c) => {
  const device = await getDevice(c.env.DB, c.env.ORG_ID, c.req.param('id'));
  return device ? c.json(device) : c.json({ error: 'not found' }, 404);
});

app.get('/v1/devices', async (c) => {
  const limit = Number(c.req.query('limit') ?? 20);
  const { items: devices, hasMore } = await listDevices(c.env.DB, c.env.ORG_ID, {}, limit, undefined);
  return c.json({ data: devices, next_cursor: hasMore ? devices.at(-1)?.id : null });
});

app.post('/v1/devices', async (c) => {
  const body = await c.req.json<DeviceBody>();
  const now = nowIso();
  const device: DeviceRecord = {
    id: newId('device'),
    orgId: c.env.ORG_ID,
    name: body.name,
    kind: body.kind,
    externalId: null,
    metadata: body.metadata ?? {},
    tags: body.tags ?? [],
    status: 'active',
    lastSeenAt: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  await insertDevice(c.env.DB, device).run();
  return c.json(device, 201);
});

// biome-ignore lint/style/noDefaultExport: the Workers runtime needs the handler object as the default export.
export default app;
