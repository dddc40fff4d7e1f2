/**
 * Curve 1: `GET /v1/devices` as one organisation's table grows (1,000 → 10,000 → 100,000 devices by
 * default): the first page, a page deep in the table (keyset pagination should make it cost what
 * the first does), and each filter the list has (src/db/devices.ts `listDevices`): `tag`, `status`,
 * `kind` and the `q` search. The table grows between sizes; each size is measured on what is there.
 */
import { DeviceListSchema } from '../../../src/schemas/devices.ts';
import type { CurveContext, CurveQuery, HttpCurve, RunningTarget } from './curve-types.ts';
import { assertRowsMatchSchema, measureQueries } from './http-curve.ts';
import { warmUpRuntime } from './http-point.ts';
import { d1Of } from './runtime.ts';
import { cursorAfter, DISABLED_EVERY, deviceRow, insertDevices, TAG_GROUPS } from './seed-rows.ts';

const PAGE = 'limit=50';
/** The deep page starts after this share of the table. */
export const DEEP_AT = 0.9;

export function deviceQueries(orgId: string): CurveQuery[] {
  return [
    { id: 'first', title: 'first page', legend: 'first page', path: () => `/v1/devices?${PAGE}` },
    {
      id: 'deep',
      title: `deep page (after ${DEEP_AT * 100} %)`,
      legend: 'deep page',
      path: (size) => `/v1/devices?${PAGE}&cursor=${cursorAfter(orgId, 'devices', deviceRow(Math.floor(size * DEEP_AT)))}`,
    },
    { id: 'tag', title: `tag=group:3 (1 in ${TAG_GROUPS})`, legend: 'tag', path: () => `/v1/devices?${PAGE}&tag=group:3` },
    {
      id: 'status',
      title: `status=disabled (1 in ${DISABLED_EVERY})`,
      legend: 'status',
      path: () => `/v1/devices?${PAGE}&status=disabled`,
    },
    { id: 'kind', title: 'kind=server (1 in 5)', legend: 'kind', path: () => `/v1/devices?${PAGE}&kind=server` },
    // One external id: a single match, so the search reads every device of the organisation.
    {
      id: 'search',
      title: 'q=<one external id> (1 match)',
      legend: 'search q',
      path: (size) => `/v1/devices?${PAGE}&q=${deviceRow(Math.floor(size / 2)).externalId}`,
    },
  ];
}

export async function deviceListCurve(running: RunningTarget, sizes: readonly number[], context: CurveContext): Promise<HttpCurve> {
  const curve: HttpCurve = { points: [], seeding: [] };
  const queries = deviceQueries(context.seed.orgId);
  let seeded = 0;
  for (const size of [...sizes].sort((a, b) => a - b)) {
    const target = running.current();
    const started = performance.now();
    await insertDevices(await d1Of(target), context.seed.orgId, seeded + 1, size);
    const seconds = (performance.now() - started) / 1000;
    curve.seeding.push({
      what: `devices ${(seeded + 1).toLocaleString('en-US')}–${size.toLocaleString('en-US')}`,
      rows: size - seeded,
      seconds,
    });
    context.log(
      `seeded ${(size - seeded).toLocaleString('en-US')} devices in ${seconds.toFixed(1)} s (${size.toLocaleString('en-US')} in all)`,
    );
    seeded = size;
    await assertRowsMatchSchema(target, context.seed.apiKey, '/v1/devices?limit=100', DeviceListSchema);
    if (curve.points.length === 0) await warmUpRuntime(target, `/v1/devices?${PAGE}`, context.seed.apiKey, context.http);
    curve.points.push(...(await measureQueries(target, queries, size, 'devices', context)));
  }
  return curve;
}
