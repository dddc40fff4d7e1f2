/**
 * Curve 2: long histories. `GET /v1/audit-events` over one organisation's audit log (10,000 and
 * 1,000,000 rows by default, seeded in D1 by recursive CTE), and `GET /v1/sessions/{id}/messages`
 * over a session's history (one session per size, its messages written into its room's own
 * storage: see seed-history.ts). Each: the first page and one deep in the history; the audit log
 * also filtered by target (an index of its own) and by a rare action (no index of its own).
 */
import { createSwitchyardClient } from '../../../generated/client.ts';
import { AuditEventListSchema } from '../../../src/schemas/audit-events.ts';
import { SessionHistorySchema } from '../../../src/schemas/sessions.ts';
import { DEEP_AT } from './curve-device-list.ts';
import type { CurveContext, CurveQuery, HttpCurve, RunningTarget } from './curve-types.ts';
import { assertRowsMatchSchema, measureQueries } from './http-curve.ts';
import { warmUpRuntime } from './http-point.ts';
import { assertReady, d1Of } from './runtime.ts';
import { seedRoomHistories } from './seed-history.ts';
import { AUDITED_DEVICES, auditRow, cursorAfter, insertAuditEvents, RARE_ACTION, RARE_ACTION_EVERY } from './seed-rows.ts';

const PAGE = 'limit=50';
/** The history page's default size (src/schemas/sessions.ts DEFAULT_HISTORY_PAGE), asked for explicitly. */
const HISTORY_PAGE = 'limit=100';

function auditQueries(orgId: string): CurveQuery[] {
  const target = auditRow(42).targetDeviceId;
  return [
    { id: 'first', title: 'first page', legend: 'first page', path: () => `/v1/audit-events?${PAGE}` },
    {
      id: 'deep',
      title: `deep page (after ${DEEP_AT * 100} %)`,
      legend: 'deep page',
      path: (size) => `/v1/audit-events?${PAGE}&cursor=${cursorAfter(orgId, 'audit_events', auditRow(Math.floor(size * DEEP_AT)))}`,
    },
    {
      id: 'target',
      title: `one device's events (1 in ${AUDITED_DEVICES})`,
      legend: 'one device',
      path: () => `/v1/audit-events?${PAGE}&target_type=device&target_id=${target}`,
    },
    {
      id: 'action',
      title: `action=${RARE_ACTION} (1 in ${RARE_ACTION_EVERY.toLocaleString('en-US')})`,
      legend: 'rare action',
      path: () => `/v1/audit-events?${PAGE}&action=${RARE_ACTION}`,
    },
  ];
}

function historyQueries(sessionOf: (size: number) => string): CurveQuery[] {
  return [
    { id: 'first', title: 'first page', legend: 'first page', path: (size) => `/v1/sessions/${sessionOf(size)}/messages?${HISTORY_PAGE}` },
    {
      id: 'deep',
      title: `deep page (after ${DEEP_AT * 100} %)`,
      legend: 'deep page',
      path: (size) => `/v1/sessions/${sessionOf(size)}/messages?${HISTORY_PAGE}&after_seq=${Math.floor(size * DEEP_AT)}`,
    },
  ];
}

export async function auditEventsCurve(running: RunningTarget, sizes: readonly number[], context: CurveContext): Promise<HttpCurve> {
  const curve: HttpCurve = { points: [], seeding: [] };
  const queries = auditQueries(context.seed.orgId);
  let seeded = 0;
  for (const size of [...sizes].sort((a, b) => a - b)) {
    const target = running.current();
    const started = performance.now();
    await insertAuditEvents(await d1Of(target), context.seed.orgId, context.seed.keyId, seeded + 1, size);
    const seconds = (performance.now() - started) / 1000;
    curve.seeding.push({
      what: `audit events ${(seeded + 1).toLocaleString('en-US')}–${size.toLocaleString('en-US')}`,
      rows: size - seeded,
      seconds,
    });
    context.log(
      `seeded ${(size - seeded).toLocaleString('en-US')} audit events in ${seconds.toFixed(1)} s (${size.toLocaleString('en-US')} in all)`,
    );
    seeded = size;
    await assertRowsMatchSchema(target, context.seed.apiKey, '/v1/audit-events?limit=100', AuditEventListSchema);
    curve.points.push(...(await measureQueries(target, queries, size, 'events', context)));
  }
  return curve;
}

/** A session per size, its room created by a first history read (which also records the session's settings there). */
async function openHistorySessions(base: URL, context: CurveContext, sizes: readonly number[]): Promise<Map<number, string>> {
  const api = createSwitchyardClient({ baseUrl: base.origin, apiKey: context.seed.apiKey });
  const sessions = new Map<number, string>();
  for (const size of sizes) {
    const created = await api.POST('/v1/sessions', { body: { ttl_seconds: 24 * 60 * 60 } });
    if (!created.data) throw new Error(`POST /v1/sessions answered ${created.response.status}: ${JSON.stringify(created.error)}`);
    if (created.data.history.max_messages < size) {
      throw new Error(
        `a session of this plan keeps ${created.data.history.max_messages} messages: a history of ${size} cannot be read whole`,
      );
    }
    const read = await api.GET('/v1/sessions/{id}/messages', { params: { path: { id: created.data.id } } });
    if (!read.data) throw new Error(`reading a new session's history answered ${read.response.status}`);
    sessions.set(size, created.data.id);
  }
  return sessions;
}

export async function sessionHistoryCurve(running: RunningTarget, sizes: readonly number[], context: CurveContext): Promise<HttpCurve> {
  const ordered = [...sizes].sort((a, b) => a - b);
  const sessions = await openHistorySessions(running.current().url, context, ordered);
  const curve: HttpCurve = { points: [], seeding: [] };
  const started = performance.now();
  const target = await running.restart((stateDir, workerName) =>
    seedRoomHistories(
      stateDir,
      workerName,
      ordered.map((size) => ({ sessionId: sessions.get(size) as string, messages: size })),
    ),
  );
  await assertReady(target);
  const seconds = (performance.now() - started) / 1000;
  const rows = ordered.reduce((sum, size) => sum + size, 0);
  curve.seeding.push({ what: `session messages (${ordered.length} rooms, runtime restarted)`, rows, seconds });
  context.log(
    `seeded ${rows.toLocaleString('en-US')} messages into ${ordered.length} rooms' storage in ${seconds.toFixed(1)} s (restart included)`,
  );
  const queries = historyQueries((size) => sessions.get(size) as string);
  const first = ordered[0] as number;
  await assertRowsMatchSchema(target, context.seed.apiKey, queries[0]?.path(first) as string, SessionHistorySchema);
  // The restart left a cold runtime.
  await warmUpRuntime(target, queries[0]?.path(first) as string, context.seed.apiKey, context.http);
  for (const size of ordered) curve.points.push(...(await measureQueries(target, queries, size, 'messages', context)));
  return curve;
}
