/**
 * Erasing an organisation (issue 17 §3): DELETE /v1/organization revokes every key at once, the
 * erasure job closes every socket and deletes every row, room and archive, and what is left is the
 * tombstone alone; another organisation keeps everything. Counted before and after, everywhere the
 * organisation's data can be (test/helpers/erasure.ts).
 */
import { createScheduledController } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import * as apiKeys from '../../src/db/api-keys.ts';
import { ERASED_TABLES, KEPT_TABLES } from '../../src/db/organization-erasure.ts';
import * as tombstones from '../../src/db/organization-tombstones.ts';
import * as organizations from '../../src/db/organizations.ts';
import worker from '../../src/index.ts';
import { CLOSE_CODES } from '../../src/schemas/realtime.ts';
import { archiveCount, roomTotals, rowCounts, tablesWithOrgId, watchErasure } from '../helpers/erasure.ts';
import { eventOfType } from '../helpers/events.ts';
import { runExport } from '../helpers/exports.ts';
import { D1_FAILURES, faultyD1, touching } from '../helpers/faults.ts';
import { expectProblem } from '../helpers/problem.ts';
import { connect, mintToken, openSession, type TestSocket } from '../helpers/realtime.ts';
import { requireSignedRequests } from '../helpers/signing.ts';
import { createTenant, type Tenant } from '../helpers/tenants.ts';
import { createReceivingEndpoint, dispatched, runDueDeliveries } from '../helpers/webhooks.ts';
import { apiClient, callWorker } from '../helpers/worker.ts';

interface Populated {
  tenant: Tenant;
  sessions: string[];
  sockets: TestSocket[];
}

/**
 * Gives the organisation a row in every table that has one: devices (one made under an
 * Idempotency-Key), an endpoint with deliveries and attempts, events, audit events, two sessions
 * with a device connected and messages in their rooms (connect tokens: key grants and device
 * connections), a pending device erasure, a signing key with its signatures' nonces, and export archives.
 */
async function populate(): Promise<Populated> {
  const tenant = await createTenant();
  await createReceivingEndpoint(tenant);
  const devices: string[] = [];
  for (const name of ['phone', 'sensor', 'kiosk']) {
    const created = await tenant.api.POST('/v1/devices', {
      body: { name, kind: 'iot', external_id: `${name}-42`, metadata: { owner: 'Ada Lovelace' } },
      params: { header: { 'Idempotency-Key': crypto.randomUUID() } },
    });
    devices.push(created.data?.id ?? '');
  }
  const sessions = [await openSession(tenant), await openSession(tenant)];
  const sockets: TestSocket[] = [];
  for (const sessionId of sessions) {
    const socket = await connect(sessionId, await mintToken(tenant, sessionId, devices[0]));
    socket.send({ type: 'message', id: 'm-1', payload: { text: 'hello from Ada' } });
    await socket.until((received) => received.some((frame) => frame.type === 'published'));
    sockets.push(socket);
  }
  await tenant.api.POST('/v1/sessions/{id}/messages', { params: { path: { id: sessions[0] ?? '' } }, body: { payload: { n: 1 } } });
  await eventOfType(tenant, 'session.participant_joined');
  await dispatched(tenant);
  await runDueDeliveries(tenant);
  // A signing key, and the nonces of the signed requests that turned signing on and off again.
  const signer = await requireSignedRequests(tenant);
  await signer.api.PUT('/v1/organization/request-signing', { body: { required: false } });
  await env.DB.prepare("INSERT INTO device_erasures (org_id, device_id, requested_at) VALUES (?1, 'dev_pending', ?2)")
    .bind(tenant.orgId, new Date().toISOString())
    .run();
  // An export through the API (its row and archive), and archive objects besides.
  await runExport(tenant);
  for (const name of ['a', 'b', 'c'])
    await env.EXPORTS.put(`orgs/${tenant.orgId}/exports/exp_${name}/archive.json.gz`, `{"archive":"${name}"}`);
  return { tenant, sessions, sockets };
}

async function snapshot({ tenant, sessions }: Populated) {
  return { rows: await rowCounts(tenant.orgId), rooms: await roomTotals(sessions), archives: await archiveCount(tenant.orgId) };
}

function erase(tenant: Tenant, body: unknown = { confirm: `erase ${tenant.orgId}` }) {
  return tenant.api.DELETE('/v1/organization', { body: body as { confirm: string } });
}

/** The erasure as a raw request under an Idempotency-Key, with bindings overridden (a faulty D1). */
function sendErase(tenant: Tenant, idempotencyKey: string, overrides: Partial<Record<string, unknown>> = {}): Promise<Response> {
  return callWorker(
    '/v1/organization',
    {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
      body: JSON.stringify({ confirm: `erase ${tenant.orgId}` }),
    },
    overrides,
  );
}

describe('the erasure covers every table', () => {
  it('names every table with an org_id column as erased or kept', async () => {
    const covered = new Set([...ERASED_TABLES, ...KEPT_TABLES]);
    const missed = (await tablesWithOrgId()).filter((table) => !covered.has(table));
    expect(missed, 'add each to ORGANIZATION_TABLES (src/db/organization-erasure.ts), in an order its foreign keys allow').toEqual([]);
  });
});

describe('DELETE /v1/organization', () => {
  it('revokes every key at once, closes every socket with 4010, and leaves only the tombstone', async () => {
    const erased = await populate();
    const other = await populate();
    const { tenant } = erased;
    const before = await snapshot(erased);
    const otherBefore = await snapshot(other);
    // Every table holds some of the organisation's data (the tombstone comes with the erasure).
    const empty = Object.entries(before.rows).filter(([, count]) => count === 0);
    expect(empty.map(([table]) => table)).toEqual(['organization_tombstones']);
    expect(before.rooms.rows).toBeGreaterThan(0);
    expect(before.rooms.alarms).toBeGreaterThan(0);
    // The export's own objects (its parts and manifest) and the three written beside them.
    expect(before.archives).toBeGreaterThan(3);
    // A second key, used (so cached in this isolate) just before.
    const second = apiClient({ apiKey: (await tenant.addKey()).secret });
    expect((await second.GET('/v1/devices')).response.status).toBe(200);

    const job = await watchErasure({ kind: 'organization', orgId: tenant.orgId });
    const { data, response } = await erase(tenant);

    expect(response.status).toBe(202);
    expect(data).toEqual({
      org_id: tenant.orgId,
      status: 'erasing',
      erased_at: expect.any(String),
      erased_by_key_id: tenant.key.id,
    });
    // At once, on the isolate that answered: neither key works.
    await expectProblem(await tenant.api.GET('/v1/devices'), 401, 'unauthorized');
    await expectProblem(await second.GET('/v1/devices'), 401, 'unauthorized');

    for (const socket of erased.sockets) expect((await socket.closed).code).toBe(CLOSE_CODES.organizationErased);
    await job.waitForStatus('complete');

    expect(await job.getOutput()).toMatchObject({ sessions: 2, archives: before.archives });
    const after = await snapshot(erased);
    const left = Object.entries(after.rows).filter(([, count]) => count > 0);
    expect(Object.fromEntries(left)).toEqual({ organization_tombstones: 1 });
    expect(after.rooms).toEqual({ rows: 0, alarms: 0 });
    expect(after.archives).toBe(0);
    const tombstone = await env.DB.prepare('SELECT * FROM organization_tombstones WHERE org_id = ?1').bind(tenant.orgId).first();
    expect(tombstone).toEqual({ org_id: tenant.orgId, erased_at: data?.erased_at, erased_by_key_id: tenant.key.id });

    // The other organisation: every count as it was, its sockets open, its key working.
    expect(await snapshot(other)).toEqual(otherBefore);
    expect((await other.tenant.api.GET('/v1/devices')).response.status).toBe(200);
    for (const socket of other.sockets) expect(socket.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('refuses a missing or wrong confirmation and changes nothing', async () => {
    const populated = await populate();
    const { tenant } = populated;
    const other = await createTenant();
    const before = await snapshot(populated);

    await expectProblem(await tenant.api.DELETE('/v1/organization', {} as never), 400, 'validation_failed');
    await expectProblem(await erase(tenant, {}), 400, 'validation_failed');
    await expectProblem(await erase(tenant, { confirm: `erase ${tenant.orgId}`, also: true }), 400, 'validation_failed');
    for (const confirm of [tenant.orgId, `erase ${other.orgId}`, `Erase ${tenant.orgId}`, `erase ${tenant.orgId} `, 'yes']) {
      const problem = await expectProblem(await erase(tenant, { confirm }), 422, 'erasure_not_confirmed');
      expect(problem.detail).toContain(`erase ${tenant.orgId}`);
    }

    expect(await snapshot(populated)).toEqual(before);
    expect((await tenant.api.GET('/v1/devices')).response.status).toBe(200);
    for (const socket of populated.sockets) expect(socket.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('resumes after a failed step without harm: the retried step deletes what is left', async () => {
    const populated = await populate();
    const { tenant } = populated;
    const job = await watchErasure({ kind: 'organization', orgId: tenant.orgId });
    await job.modify(async (modifier) => {
      await modifier.mockStepError({ name: 'devices #1' }, new Error('D1_ERROR: the database went away'), 2);
      await modifier.mockStepError({ name: 'sessions #1' }, new Error('the room did not answer'), 1);
    });

    expect((await erase(tenant)).response.status).toBe(202);
    await job.waitForStatus('complete');

    const after = await snapshot(populated);
    expect(Object.fromEntries(Object.entries(after.rows).filter(([, count]) => count > 0))).toEqual({ organization_tombstones: 1 });
    expect(after.rooms).toEqual({ rows: 0, alarms: 0 });
  });

  it('is started by the hourly run when the request could not start it', async () => {
    const populated = await populate();
    const { tenant } = populated;
    const job = await watchErasure({ kind: 'organization', orgId: tenant.orgId });
    // The request's start fails after its batch committed: the organisation is marked, nothing runs.
    const unavailable = () => Promise.reject(new Error('Workflows unavailable'));
    const response = await callWorker(
      '/v1/organization',
      {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ confirm: `erase ${tenant.orgId}` }),
      },
      { ERASURE: { create: unavailable, createBatch: unavailable, get: unavailable } },
    );
    expect(response.status).toBe(202);
    expect(await rowCounts(tenant.orgId)).toMatchObject({ organizations: 1 });
    // Marked erased, its rows still there: even a key no revocation reached (one a request racing
    // the erasure created) is refused.
    const late = apiClient({ apiKey: (await tenant.addKey()).secret });
    await expectProblem(await late.GET('/v1/devices'), 401, 'unauthorized');

    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '17 * * * *' }), env);
    await job.waitForStatus('complete');

    expect(await rowCounts(tenant.orgId)).toMatchObject({ organizations: 0, devices: 0, organization_tombstones: 1 });
  });

  it('fails before its batch reaches D1 with a 503 and nothing changed; the repeat erases', async () => {
    const populated = await populate();
    const { tenant } = populated;
    const before = await snapshot(populated);
    const faulty = faultyD1({ kind: 'fail', message: D1_FAILURES.objectReset }, touching('UPDATE organizations SET erased_at'));

    const failed = await sendErase(tenant, 'erase-fails-first', { DB: faulty.db });

    await expectProblem(failed, 503, 'service_unavailable');
    expect(failed.headers.get('Retry-After')).toBe('1');
    expect(await snapshot(populated)).toEqual(before);
    expect((await tenant.api.GET('/v1/devices')).response.status).toBe(200);
    const job = await watchErasure({ kind: 'organization', orgId: tenant.orgId });
    expect((await sendErase(tenant, 'erase-fails-first')).status).toBe(202);
    await job.waitForStatus('complete');
  });

  it('answers its tombstone when the batch committed but its reply was lost, and a repeat is a 401', async () => {
    const { tenant } = await populate();
    const job = await watchErasure({ kind: 'organization', orgId: tenant.orgId });
    const lossy = faultyD1({ kind: 'lose-reply', message: D1_FAILURES.connectionLost }, touching('UPDATE organizations SET erased_at'));

    const answered = await sendErase(tenant, 'erase-lost-reply', { DB: lossy.db });

    expect(answered.status).toBe(202);
    expect(await answered.json()).toMatchObject({ org_id: tenant.orgId, status: 'erasing', erased_by_key_id: tenant.key.id });
    await expectProblem(await sendErase(tenant, 'erase-lost-reply'), 401, 'unauthorized');
    await job.waitForStatus('complete');
    expect(await rowCounts(tenant.orgId)).toMatchObject({ organizations: 0, organization_tombstones: 1 });
  });

  it('erases once under concurrent requests with one Idempotency-Key, and every answer is the first', async () => {
    const { tenant } = await populate();
    const job = await watchErasure({ kind: 'organization', orgId: tenant.orgId });

    const answers = await Promise.all([1, 2, 3].map(() => sendErase(tenant, 'erase-concurrently')));

    // Each was authenticated before the first committed; the later ones get the first's answer.
    const bodies = await Promise.all(answers.map((answer) => answer.text()));
    expect(answers.map((answer) => answer.status)).toEqual([202, 202, 202]);
    expect(new Set(bodies).size).toBe(1);
    await job.waitForStatus('complete');
    expect(await rowCounts(tenant.orgId)).toMatchObject({ organizations: 0, organization_tombstones: 1 });
  });

  it('changes nothing, and fails nothing, when a duplicate batch carries the same millisecond', async () => {
    // Concurrent duplicates in one isolate often read the same Date.now() (it stands still between
    // I/O): the second batch's EXISTS (erased_at = its time) then holds as well.
    const tenant = await createTenant();
    const at = new Date().toISOString();
    const batch = () =>
      env.DB.batch([
        organizations.markOrganizationErased(env.DB, tenant.orgId, at),
        apiKeys.revokeOrganizationKeys(env.DB, tenant.orgId, at),
        tombstones.insertTombstone(env.DB, { orgId: tenant.orgId, erasedAt: at, erasedByKeyId: tenant.key.id }),
      ]);
    expect((await batch()).map((result) => result.meta.changes)).toEqual([1, 1, 1]);
    expect((await batch()).map((result) => result.meta.changes)).toEqual([0, 0, 0]);
    expect(await rowCounts(tenant.orgId)).toMatchObject({ organization_tombstones: 1 });
  });

  it('needs a signature once the organisation requires signed requests, and erases with one', async () => {
    const populated = await populate();
    const { tenant } = populated;
    const signer = await requireSignedRequests(tenant);
    const before = await snapshot(populated);

    await expectProblem(await erase(tenant), 401, 'signature_missing');
    expect(await snapshot(populated)).toEqual(before);

    const erased = await signer.api.DELETE('/v1/organization', { body: { confirm: `erase ${tenant.orgId}` } });
    expect(erased.response.status, JSON.stringify(erased.error)).toBe(202);
    expect((await tenant.api.GET('/v1/devices')).response.status).toBe(401);
  });

  it('needs organization:admin', async () => {
    const tenant = await createTenant({ scopes: ['organization:read', 'devices:read'] });
    await expectProblem(await erase(tenant), 403, 'insufficient_scope');
    expect(await rowCounts(tenant.orgId)).toMatchObject({ organizations: 1, organization_tombstones: 0 });
  });
});
