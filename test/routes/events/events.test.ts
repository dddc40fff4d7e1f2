/**
 * Events through the generated client: every change that emits one leaves exactly one, carrying the
 * object as the API answered it (or, for a deletion, as it was last); a refused, failed or replayed
 * change leaves none; GET /v1/events pages, filters and keeps to 30 days; GET /v1/events/{id}.
 * Which key reads which events: test/access/authorization.test.ts. The outbox under injected faults,
 * route by route: test/resilience/write-routes.test.ts.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { insertEvent } from '../../../src/db/events.ts';
import { newId } from '../../../src/lib/ids.ts';
import { EMITTED_EVENT_TYPES, EVENT_RETENTION_DAYS, EventSchema, MAX_EVENT_DATA_BYTES } from '../../../src/schemas/events.ts';
import { emitEveryEventType, eventsOf } from '../../helpers/events.ts';
import { D1_FAILURES, faultyD1, touching } from '../../helpers/faults.ts';
import { countRows, postWithKey } from '../../helpers/idempotency.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { callWorker } from '../../helpers/worker.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

async function eventRows(tenant: Tenant): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM events WHERE org_id = ?1').bind(tenant.orgId).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Writes a device.created event straight to D1, `ageMs` in the past, as if an old change had left it. */
async function storeEvent(tenant: Tenant, ageMs: number): Promise<string> {
  const id = newId('event');
  const createdAt = new Date(Date.now() - ageMs).toISOString();
  const device = {
    id: newId('device'),
    name: 'old',
    kind: 'iot',
    external_id: null,
    metadata: {},
    tags: [],
    status: 'active',
    last_seen_at: null,
    created_at: createdAt,
    updated_at: createdAt,
    version: 1,
  };
  await insertEvent(env.DB, { id, orgId: tenant.orgId, type: 'device.created', data: JSON.stringify(device), createdAt }).run();
  return id;
}

describe('events of the changes', () => {
  it('leaves one event per change, each carrying the object as the API answered it', async () => {
    const tenant = await createTenant();
    const created = await tenant.api.POST('/v1/devices', { body: { name: 'lobby', kind: 'iot', metadata: { floor: 3 } } });
    const id = created.data?.id ?? '';
    const updated = await tenant.api.PATCH('/v1/devices/{id}', { params: { path: { id } }, body: { tags: ['lobby'] } });
    const last = await tenant.api.GET('/v1/devices/{id}', { params: { path: { id } } });
    await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id } } });
    const session = await tenant.api.POST('/v1/sessions', { body: { max_connections: 4 } });
    const ended = await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session.data?.id ?? '' } } });
    const key = await tenant.api.POST('/v1/api-keys', { body: { name: 'ci', scopes: ['devices:read'] } });
    const { secret: _secret, ...keyWithoutSecret } = key.data ?? { secret: '' };
    const before = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: key.data?.id ?? '' } } });
    const rotated = await tenant.api.POST('/v1/api-keys/{id}/rotate', {
      params: { path: { id: key.data?.id ?? '' } },
      body: { grace_period_seconds: 300 },
    });
    const replacement = await tenant.api.GET('/v1/api-keys/{id}', { params: { path: { id: rotated.data?.id ?? '' } } });
    await tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: rotated.data?.id ?? '' } } });

    const events = await eventsOf(tenant);
    expect(events.map((event) => [event.type, 'id' in event.data && event.data.id])).toEqual([
      ['device.created', id],
      ['device.updated', id],
      ['device.deleted', id],
      ['session.created', session.data?.id],
      ['session.ended', session.data?.id],
      ['api_key.created', key.data?.id],
      ['api_key.rotated', key.data?.id],
      ['api_key.revoked', rotated.data?.id],
    ]);
    const dataOf = (type: string) => events.find((event) => event.type === type)?.data;
    expect(dataOf('device.created')).toEqual(created.data);
    expect(dataOf('device.updated')).toEqual(updated.data);
    expect(dataOf('device.deleted')).toEqual(last.data);
    expect(dataOf('session.created')).toEqual(session.data);
    expect(dataOf('session.ended')).toEqual(ended.data);
    expect(dataOf('api_key.created')).toEqual(keyWithoutSecret);
    // The old key, working until the end of its grace period, and what replaced it.
    const graceEnd = Date.parse(replacement.data?.created_at ?? '') + 300_000;
    expect(dataOf('api_key.rotated')).toEqual({
      ...before.data,
      expires_at: new Date(graceEnd).toISOString(),
      replaced_by: rotated.data?.id,
    });
    expect(dataOf('api_key.revoked')).toEqual(replacement.data);
    // Never a secret, in any event.
    expect(JSON.stringify(events)).not.toMatch(/sy_(live|test)_[A-Za-z0-9]{20,}/);
    for (const event of events) {
      expect(EventSchema.safeParse(event).success, event.type).toBe(true);
      expect(event.id).toMatch(/^msg_[0-9A-Za-z]{22}$/);
      expect(Date.parse(event.created_at)).toBeLessThanOrEqual(Date.now());
    }
  });

  it('leaves none for a change that was refused, rolled back or is a no-op', async () => {
    const tenant = await createTenant();
    const first = await tenant.api.POST('/v1/devices', { body: { name: 'a', kind: 'iot', external_id: 'serial-1' } });
    const before = await eventRows(tenant);
    // The unique external_id fails the batch's INSERT: the event in the same batch is rolled back with it.
    await expectProblem(
      await tenant.api.POST('/v1/devices', { body: { name: 'b', kind: 'iot', external_id: 'serial-1' } }),
      409,
      'conflict',
    );
    // A stale If-Match, a missing device, a session ended already: nothing changes, nothing is emitted.
    const id = first.data?.id ?? '';
    const stale = await tenant.api.PATCH('/v1/devices/{id}', {
      params: { path: { id }, header: { 'If-Match': '"999"' } },
      body: { name: 'c' },
    });
    await expectProblem(stale, 412, 'precondition_failed');
    await expectProblem(await tenant.api.DELETE('/v1/devices/{id}', { params: { path: { id: newId('device') } } }), 404, 'not_found');
    const session = (await tenant.api.POST('/v1/sessions', { body: {} })).data?.id ?? '';
    await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session } } });
    const afterEnd = await eventRows(tenant);
    const again = await tenant.api.POST('/v1/sessions/{id}/end', { params: { path: { id: session } } });
    expect(again.response.status).toBe(200);
    expect(afterEnd).toBe(before + 2);
    expect(await eventRows(tenant)).toBe(afterEnd);
  });

  it('leaves none when the batch fails, and exactly one when the change is made on the retry', async () => {
    const tenant = await createTenant();
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.internal }, touching('INSERT INTO events'));
    const failed = await callWorker(
      '/v1/devices',
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'unlucky', kind: 'iot' }),
      },
      { DB: faulty.db },
    );
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(faulty.calls.filter(touching('INSERT INTO events'))).toHaveLength(1);
    expect(await countRows('devices', tenant)).toBe(0);
    expect(await eventRows(tenant)).toBe(0);
    const retried = await tenant.api.POST('/v1/devices', { body: { name: 'unlucky', kind: 'iot' } });
    expect((await eventsOf(tenant)).map((event) => [event.type, 'id' in event.data && event.data.id])).toEqual([
      ['device.created', retried.data?.id],
    ]);
  });

  it('leaves one for a change replayed under its Idempotency-Key', async () => {
    const tenant = await createTenant();
    const first = await postWithKey(tenant, '/v1/devices', 'once', { name: 'replayed', kind: 'iot' });
    const replay = await postWithKey(tenant, '/v1/devices', 'once', { name: 'replayed', kind: 'iot' });
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.json()).toEqual(await first.json());
    expect(await eventRows(tenant)).toBe(1);
  });

  it(`refuses a change whose object would not fit in an event (${MAX_EVENT_DATA_BYTES / 1024} KiB), and writes nothing`, async () => {
    const tenant = await createTenant();
    // Control characters are escaped to six characters each in JSON: 50 values of 500 make ~150 KB.
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`key${index}`, '\u0001'.repeat(500)]));
    const refused = await tenant.api.POST('/v1/devices', { body: { name: 'too big', kind: 'iot', metadata } });
    const problem = await expectProblem(refused, 413, 'payload_too_large');
    expect(problem.detail).toContain('64 KiB');
    expect(await countRows('devices', tenant)).toBe(0);
    expect(await countRows('audit_events', tenant)).toBe(0);
    expect(await eventRows(tenant)).toBe(0);
  });
});

describe('GET /v1/events', () => {
  it('pages through every event once, oldest first, and filters by type and time', async () => {
    const tenant = await createTenant();
    const ids = await emitEveryEventType(tenant);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const { data } = await tenant.api.GET('/v1/events', { params: { query: { limit: 3, ...(cursor ? { cursor } : {}) } } });
      seen.push(...(data?.data ?? []).map((event) => event.id));
      cursor = data?.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(EMITTED_EVENT_TYPES.map((type) => ids[type]));

    const devices = await tenant.api.GET('/v1/events', { params: { query: { type: 'device.deleted' } } });
    expect(devices.data?.data.map((event) => event.id)).toEqual([ids['device.deleted']]);
    const all = await eventsOf(tenant);
    const middle = all[4]?.created_at ?? '';
    const since = await tenant.api.GET('/v1/events', { params: { query: { since: middle, limit: 100 } } });
    expect(since.data?.data.every((event) => event.created_at >= middle)).toBe(true);
    const until = await tenant.api.GET('/v1/events', { params: { query: { until: middle, limit: 100 } } });
    expect(until.data?.data.every((event) => event.created_at < middle)).toBe(true);
    expect((since.data?.data.length ?? 0) + (until.data?.data.length ?? 0)).toBe(all.length);
  });

  it(`lists only the last ${EVENT_RETENTION_DAYS} days, whatever \`since\` asks for`, async () => {
    const tenant = await createTenant();
    const old = await storeEvent(tenant, (EVENT_RETENTION_DAYS + 1) * DAY_MS);
    const recent = await storeEvent(tenant, (EVENT_RETENTION_DAYS - 1) * DAY_MS);
    const { data } = await tenant.api.GET('/v1/events', { params: { query: { since: '2000-01-01T00:00:00Z' } } });
    expect(data?.data.map((event) => event.id)).toEqual([recent]);
    await expectProblem(await tenant.api.GET('/v1/events/{id}', { params: { path: { id: old } } }), 404, 'not_found');
  });

  it('keeps each organisation to its own events, and refuses a cursor from another list', async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    await tenant.api.POST('/v1/devices', { body: { name: 'mine', kind: 'iot' } });
    const theirs = await storeEvent(other, 0);
    expect(await eventsOf(other)).toHaveLength(1);
    expect((await eventsOf(tenant)).map((event) => event.id)).not.toContain(theirs);
    await expectProblem(await tenant.api.GET('/v1/events/{id}', { params: { path: { id: theirs } } }), 404, 'not_found');
    // A cursor is bound to its list: one from the device list is not an events cursor.
    await other.api.POST('/v1/devices', { body: { name: 'a', kind: 'iot' } });
    await other.api.POST('/v1/devices', { body: { name: 'b', kind: 'iot' } });
    const devicesCursor = (await other.api.GET('/v1/devices', { params: { query: { limit: 1 } } })).data?.next_cursor ?? '';
    expect(devicesCursor).not.toBe('');
    const refused = await other.api.GET('/v1/events', { params: { query: { cursor: devicesCursor } } });
    expect((await expectProblem(refused, 400, 'validation_failed')).errors?.[0]?.pointer).toBe('/cursor');
  });
});

describe('GET /v1/events/{id}', () => {
  it('answers the event as the list shows it, and 404 for one that does not exist', async () => {
    const tenant = await createTenant();
    await tenant.api.POST('/v1/devices', { body: { name: 'one', kind: 'iot' } });
    const [listed] = await eventsOf(tenant);
    const { data, response } = await tenant.api.GET('/v1/events/{id}', { params: { path: { id: listed?.id ?? '' } } });
    expect(response.status).toBe(200);
    expect(data).toEqual(listed);
    await expectProblem(await tenant.api.GET('/v1/events/{id}', { params: { path: { id: newId('event') } } }), 404, 'not_found');
  });
});
