/**
 * Measuring every query of an HTTP curve at one table size, with a progress line each.
 */
import type { Target } from '../bench/targets.ts';
import type { CurveContext, CurveQuery, HttpPoint } from './curve-types.ts';
import { measureHttpPoint } from './http-point.ts';
import { awaitIdleRuntime, awaitQuietMachine } from './quiet.ts';

const number = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function progressLine(label: string, point: HttpPoint): string {
  return (
    `${label.padEnd(16)} ${point.title.padEnd(34)} ${number(point.rps).padStart(7)} req/s  p50 ${number(point.p50Ms, 2)} ms  p99 ${number(point.p99Ms, 2)} ms` +
    `  CPU ${number(point.cpuUsPerRequest)} µs/req  RSS ${number(point.peakRssMiB)} MiB  ${point.rows} rows  ${point.connections} conn` +
    `${point.noisy ? `  NOISY (other ${number(point.otherCpuPercent)}%)` : ''}`
  );
}

/**
 * The seeded rows must read back as the API's own response schema says (id patterns, timestamps,
 * JSON fields, enums): rows the Worker could not have written would measure something else.
 */
export async function assertRowsMatchSchema(target: Target, apiKey: string, path: string, schema: { parse(value: unknown): unknown }) {
  const response = await fetch(new URL(path, target.url), { headers: { authorization: `Bearer ${apiKey}` } });
  const body: unknown = await response.json();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(body).slice(0, 500)}`);
  try {
    schema.parse(body);
  } catch (error) {
    throw new Error(`the seeded rows do not read back as the API's schema says (GET ${path}): ${(error as Error).message.slice(0, 1500)}`);
  }
}

/** Every query at `size`, one after another, after the runtime has finished what seeding left it. */
export async function measureQueries(
  target: Target,
  queries: readonly CurveQuery[],
  size: number,
  unit: string,
  context: CurveContext,
): Promise<HttpPoint[]> {
  await awaitIdleRuntime(target.pid);
  await awaitQuietMachine(context.runtimePids(), context.log);
  const points: HttpPoint[] = [];
  for (const query of queries) {
    const path = query.path(size);
    const figures = await measureHttpPoint(target, context.runtimePids(), path, context.seed.apiKey, context.http);
    const point: HttpPoint = { size, query: query.id, title: query.title, legend: query.legend, path, ...figures };
    points.push(point);
    console.log(progressLine(`${number(size)} ${unit}`, point));
  }
  return points;
}
