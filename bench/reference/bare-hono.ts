/**
 * Benchmark reference: a bare Hono Worker with the same routes as Switchyard and none of its
 * middleware (no request id, logging, security headers, CORS, limits, auth, rate limit,
 * idempotency or validation). The device routes run the very query functions Switchyard's
 * handlers run (src/db/devices.ts) against an identically seeded D1 database, for the
 * organisation named by the ORG_ID variable, through a D1 session as Switchyard's are
 * (read replication: `first-unconstrained` for a read, `first-primary` for a write), so that "the
 * same D1 read" is read the same way: locally a session's query costs ~100 µs more CPU than the
 * binding's (miniflare's D1 reads its bookmark state per query), on both sides alike.
 *
 * With CREATE_AS=batch, `POST /v1/devices` writes what Switchyard's create writes, in one batch as
 * Switchyard does: an idempotency record holding the answer, the device, its audit row and its
 * event (Switchyard's own statement builders; the answer unsealed). The create budget divides by the
 * single INSERT, as the performance issue states; this side shows, for information, what the same
 * D1 work costs bare.
 *
 * With LOG_LINE_BYTES set it also writes one JSON line of that size per request, as Switchyard's
 * request log line is (the harness measures that line and passes its size): `/health`'s reference,
 * so the log line, which is the product's observability, is compared like with like.
 */
import { Hono } from 'hono';
import { insertAuditEvent } from '../../src/db/audit-events.ts';
import { type DeviceRecord, getDevice, insertDevice, listDevices, type Metadata } from '../../src/db/devices.ts';
import { insertEvent } from '../../src/db/events.ts';
import { recordResultStatement } from '../../src/db/idempotency-keys.ts';
import { nowIso } from '../../src/lib/clock.ts';
import { newId } from '../../src/lib/ids.ts';
import type { DeviceKind } from '../../src/schemas/devices.ts';

export interface BareHonoEnv {
  DB: D1Database;
  ORG_ID: string;
  LOG_LINE_BYTES?: string;
  CREATE_AS?: 'insert' | 'batch';
}

interface DeviceBody {
  name: string;
  kind: DeviceKind;
  metadata?: Metadata;
  tags?: string[];
}

const app = new Hono<{ Bindings: BareHonoEnv }>();

/** Sized once, from the first line: every line after it then costs one `JSON.stringify`, as Switchyard's does. */
let padding: string | undefined;

app.use(async (c, next) => {
  const startedAt = performance.now();
  await next();
  const bytes = Number(c.env.LOG_LINE_BYTES ?? 0);
  if (bytes === 0) return;
  const line = {
    level: 'info',
    msg: 'request',
    time: new Date().toISOString(),
    method: c.req.method,
    path: new URL(c.req.url).pathname,
    status: c.res.status,
    duration_ms: Math.round((performance.now() - startedAt) * 100) / 100,
    padding: padding ?? '',
  };
  if (padding === undefined) {
    padding = 'x'.repeat(Math.max(0, bytes - JSON.stringify(line).length));
    line.padding = padding;
  }
  console.log(JSON.stringify(line));
});

app.get('/health', (c) => c.json({ status: 'ok' }));

/** The request's D1, as Switchyard's middleware/d1-session.ts starts it (the session has the binding's query methods). */
function sessionOf(db: D1Database, method: string): D1Database {
  return db.withSession(method === 'GET' ? 'first-unconstrained' : 'first-primary') as unknown as D1Database;
}

app.get('/v1/devices/:id', async (c) => {
  const device = await getDevice(sessionOf(c.env.DB, 'GET'), c.env.ORG_ID, c.req.param('id'));
  return device ? c.json(device) : c.json({ error: 'not found' }, 404);
});

app.get('/v1/devices', async (c) => {
  const limit = Number(c.req.query('limit') ?? 20);
  const { items: devices, hasMore } = await listDevices(sessionOf(c.env.DB, 'GET'), c.env.ORG_ID, {}, limit, undefined);
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
  const db = sessionOf(c.env.DB, 'POST');
  if (c.env.CREATE_AS === 'batch')
    await db.batch(changeOf(db, c.env.ORG_ID, device, c.req.header('Idempotency-Key') ?? crypto.randomUUID()));
  else await insertDevice(db, device).run();
  return c.json(device, 201);
});

/** The statements of Switchyard's create of `device`, in its batch's order. */
function changeOf(db: D1Database, orgId: string, device: DeviceRecord, key: string): D1PreparedStatement[] {
  const text = JSON.stringify(device);
  const at = device.createdAt;
  const response = { status: 201, headers: {}, sealedBody: text };
  const audit = { orgId, actorKeyId: null, requestId: `req_${crypto.randomUUID().replaceAll('-', '')}`, ipHash: null, userAgent: null };
  return [
    recordResultStatement(db, { orgId, key, fingerprint: '0'.repeat(64), now: at, expiresAt: at, response }),
    insertDevice(db, device),
    insertAuditEvent(db, audit, { action: 'device.created', targetType: 'device', targetId: device.id, at }),
    insertEvent(db, { id: newId('event'), orgId, type: 'device.created', data: text, createdAt: at }),
  ];
}

// biome-ignore lint/style/noDefaultExport: the Workers runtime needs the handler object as the default export.
export default app;
