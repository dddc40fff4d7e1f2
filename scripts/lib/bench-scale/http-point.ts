/**
 * One point of an HTTP curve: one request, repeated under load (autocannon, as `npm run bench`
 * drives it) for a few seconds, with the runtime's CPU time and peak RSS over the run. A few
 * sequential requests first check the answer (status and rows) and time it: a slow query gets fewer
 * connections, since local D1 runs one query at a time and more of them would only queue.
 */
import { runHttpLoad } from '../bench/http-load.ts';
import { RunMeter } from '../bench/proc.ts';
import { median } from '../bench/stats.ts';
import type { Target } from '../bench/targets.ts';
import { NOISY_PERCENT } from './quiet.ts';

/** Connections are cut to about this much queueing per request (a 100 ms query gets 2). */
const QUEUE_TARGET_MS = 250;
const PROBES = 3;
/** Runs measured again because other processes were busy, at most, over the whole run. */
let repeatsLeft = 6;

export interface HttpPointSettings {
  connections: number;
  durationS: number;
  warmupS: number;
}

export interface HttpFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  peakRssMiB: number;
  requests: number;
  durationS: number;
  connections: number;
  /** Rows in one answer (`data.length`): what the page returned. */
  rows: number;
  clientCpuPercent: number;
  otherCpuPercent: number;
  noisy: boolean;
}

/** Sequential requests: each must answer 200 with a `data` array. Returns the median time and the rows. */
async function probe(base: URL, path: string, headers: Record<string, string>): Promise<{ ms: number; rows: number }> {
  const times: number[] = [];
  let rows = 0;
  for (let attempt = 0; attempt < PROBES; attempt += 1) {
    const started = performance.now();
    const response = await fetch(new URL(path, base), { headers });
    const text = await response.text();
    times.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${text.slice(0, 500)}`);
    const body = JSON.parse(text) as { data?: unknown };
    if (!Array.isArray(body.data)) throw new Error(`GET ${path} answered without a data array: ${text.slice(0, 300)}`);
    rows = body.data.length;
  }
  return { ms: median(times), rows };
}

async function measureOnce(
  target: Target,
  pids: readonly number[],
  path: string,
  headers: Record<string, string>,
  connections: number,
  durationS: number,
) {
  const meter = new RunMeter(target.pid, target.rss, pids);
  meter.start();
  const run = await runHttpLoad(target.url, { method: 'GET', path, headers, expectStatus: 200 }, { connections, durationS });
  const measured = meter.stop();
  if (run.failures > 0 || run.requests === 0) {
    const samples = [...run.failureSamples, ...target.recentProblems.slice(-3)].map((line) => `    ${line}`).join('\n');
    throw new Error(`GET ${path}: ${run.failures} of ${run.requests} requests failed or answered another status than 200\n${samples}`);
  }
  return { run, measured };
}

/**
 * Unmeasured load on a runtime that has just started: its first seconds compile the Worker and
 * fill caches, and would otherwise land in the first point measured (the one the others are read against).
 */
export async function warmUpRuntime(target: Target, path: string, apiKey: string, settings: HttpPointSettings): Promise<void> {
  const headers = { authorization: `Bearer ${apiKey}` };
  await runHttpLoad(
    target.url,
    { method: 'GET', path, headers, expectStatus: 200 },
    { connections: settings.connections, durationS: Math.max(1, 3 * settings.warmupS) },
  );
}

/** Measures GET `path` on `target`; `pids` are every runtime the harness runs (for the noise figure). */
export async function measureHttpPoint(
  target: Target,
  pids: readonly number[],
  path: string,
  apiKey: string,
  settings: HttpPointSettings,
): Promise<HttpFigures> {
  const headers = { authorization: `Bearer ${apiKey}` };
  const probed = await probe(target.url, path, headers);
  const connections = Math.max(1, Math.min(settings.connections, Math.floor(QUEUE_TARGET_MS / Math.max(probed.ms, 0.1))));
  if (settings.warmupS > 0)
    await runHttpLoad(target.url, { method: 'GET', path, headers, expectStatus: 200 }, { connections, durationS: settings.warmupS });
  let result = await measureOnce(target, pids, path, headers, connections, settings.durationS);
  if (result.measured.otherCpuPercent > NOISY_PERCENT && repeatsLeft > 0) {
    repeatsLeft -= 1;
    const again = await measureOnce(target, pids, path, headers, connections, settings.durationS);
    if (again.measured.otherCpuPercent < result.measured.otherCpuPercent) result = again;
  }
  const { run, measured } = result;
  return {
    rps: run.rps,
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    cpuUsPerRequest: measured.cpuMicros / run.requests,
    peakRssMiB: measured.peakRssMiB,
    requests: run.requests,
    durationS: run.durationS,
    connections,
    rows: probed.rows,
    clientCpuPercent: measured.clientCpuPercent,
    otherCpuPercent: measured.otherCpuPercent,
    noisy: measured.otherCpuPercent > NOISY_PERCENT,
  };
}
