/**
 * `npm run bench:scale`: how Switchyard's cost grows with its data and its connections, on this
 * machine, in one bounded run on loopback. Four curves: the device list and its filters as an
 * organisation's devices grow; audit-log and session-history pages as they grow to a million rows;
 * subscribers per session; and sessions publishing at once. The Worker is built as it ships and
 * runs in its own workerd process (Miniflare, direct socket, state in /dev/shm), as in
 * `npm run bench`; tables are seeded by SQL, not measured.
 *
 *   npm run bench:scale                    # every curve, default sizes (≈ 8 minutes)
 *   npm run bench:scale -- --quick         # a smoke run (≈ 1 minute)
 *   npm run bench:scale -- --curves subscribers --subscribers 100,1000,5000 --lift-cap
 *
 * Writes bench/results/scale.json, scale.md and scale-<curve>.png. Exit code: 0 it ran, 2 harness
 * error (with --strict, 1 when the device list's first page costs more as its table grows). See
 * bench/README.md, "Scale curves".
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEnvironment, SHIPPED_ENV, shippedCompatibilityDate } from './lib/bench/build.ts';
import { exitWith, installGuards, trackTmpDir } from './lib/bench/lifecycle.ts';
import { machineInfo } from './lib/bench/machine.ts';
import { applySeed, createSeed, type Seed } from './lib/bench/seed.ts';
import { deviceListCurve } from './lib/bench-scale/curve-device-list.ts';
import { auditEventsCurve, sessionHistoryCurve } from './lib/bench-scale/curve-history.ts';
import { sessionsCurve } from './lib/bench-scale/curve-sessions.ts';
import { subscribersCurve } from './lib/bench-scale/curve-subscribers.ts';
import type { CurveContext } from './lib/bench-scale/curve-types.ts';
import { parseScaleOptions, type ScaleOptions, USAGE } from './lib/bench-scale/options.ts';
import { writePlots } from './lib/bench-scale/plots.ts';
import { setQuietWaitBudget } from './lib/bench-scale/quiet.ts';
import { pageCostVerdict, type ScaleReport, writeScaleReport } from './lib/bench-scale/report.ts';
import { verdictLine } from './lib/bench-scale/report-markdown.ts';
import {
  assertReady,
  d1Of,
  newSecrets,
  type RuntimeSecrets,
  runningSwitchyard,
  stateRoot,
  switchyardSpec,
} from './lib/bench-scale/runtime.ts';
import { ROOT } from './lib/local-worker.ts';

const RESULTS_DIR = join(ROOT, 'bench', 'results');

function log(message: string): void {
  console.log(`bench:scale: ${message}`);
}

/** Rough wall time, from this machine's figures: a join costs ~(2 + sockets ÷ 100) ms, and so on. */
function estimateSeconds(options: ScaleOptions): number {
  const pointS = options.duration + options.warmup + 1;
  let seconds = 30;
  if (options.curves.includes('device-list')) seconds += options.devices.length * 6 * pointS + Math.max(...options.devices) / 100_000;
  if (options.curves.includes('history')) seconds += options.history.length * 6 * pointS + Math.max(...options.history) / 80_000 + 5;
  if (options.curves.includes('subscribers')) {
    const measured = options.subscribers.filter((count) => options.liftCap || count <= 1000);
    seconds += measured.reduce((sum, count) => sum + (count * (2 + count / 100)) / 1000 + options.deliveries / 30_000 + 3, 0);
  }
  if (options.curves.includes('sessions')) seconds += options.sessions.reduce((sum, count) => sum + options.duration + 3 + count / 20, 0);
  return seconds;
}

interface CurveResults {
  deviceList: ScaleReport['deviceList'];
  auditEvents: ScaleReport['auditEvents'];
  sessionHistory: ScaleReport['sessionHistory'];
  subscribers: ScaleReport['subscribers'];
  sessions: ScaleReport['sessions'];
}

/** Curves 1 and 2, on one runtime whose tables grow from curve to curve. */
async function runDataCurves(
  options: ScaleOptions,
  build: { script: string; date: string },
  tmpDir: string,
  seed: Seed,
  secrets: RuntimeSecrets,
) {
  const running = await runningSwitchyard(switchyardSpec('switchyard-data', build.script, build.date, tmpDir, secrets));
  try {
    await applySeed(await d1Of(running.current()), { ...seed, devices: [] });
    await assertReady(running.current());
    log(`switchyard-data runs in workerd pid ${running.current().pid} at ${running.current().url.origin}`);
    const context: CurveContext = {
      seed,
      http: { connections: options.connections, durationS: options.duration, warmupS: options.warmup },
      log,
      runtimePids: () => [running.current().pid],
    };
    const deviceList = options.curves.includes('device-list') ? await deviceListCurve(running, options.devices, context) : null;
    const history = options.curves.includes('history');
    const auditEvents = history ? await auditEventsCurve(running, options.history, context) : null;
    const sessionHistory = history ? await sessionHistoryCurve(running, options.history, context) : null;
    return { deviceList, auditEvents, sessionHistory };
  } finally {
    await running.dispose();
  }
}

/** Curves 3 and 4, on a fresh runtime of their own (as `npm run bench` runs its fan-out). */
async function runRealtimeCurves(
  options: ScaleOptions,
  build: { script: string; date: string },
  tmpDir: string,
  seed: Seed,
  secrets: RuntimeSecrets,
) {
  const running = await runningSwitchyard(switchyardSpec('switchyard-realtime', build.script, build.date, tmpDir, secrets));
  try {
    const target = running.current();
    await applySeed(await d1Of(target), { ...seed, devices: [] });
    await assertReady(target);
    log(`switchyard-realtime runs in workerd pid ${target.pid} at ${target.url.origin}`);
    const http = { connections: options.connections, durationS: options.duration, warmupS: options.warmup };
    const context: CurveContext = { seed, http, log, runtimePids: () => [target.pid] };
    const subscribers = options.curves.includes('subscribers')
      ? await subscribersCurve(
          target,
          {
            counts: options.subscribers,
            deliveriesPerPoint: options.deliveries,
            liftCap: options.liftCap,
            jwtSecret: secrets.sessionJwtSecret,
          },
          context,
        )
      : null;
    const sessions = options.curves.includes('sessions')
      ? await sessionsCurve(
          target,
          {
            counts: options.sessions,
            subscribersPerSession: options.subscribersPerSession,
            durationS: options.duration,
            jwtSecret: secrets.sessionJwtSecret,
          },
          context,
        )
      : null;
    return { subscribers, sessions };
  } finally {
    await running.dispose();
  }
}

async function runCurves(options: ScaleOptions, tmpDir: string): Promise<CurveResults> {
  log('building Switchyard with wrangler (production environment) …');
  const build = {
    script: await buildEnvironment(SHIPPED_ENV, join(tmpDir, 'build', 'switchyard')),
    date: await shippedCompatibilityDate(),
  };
  const seed = await createSeed();
  const secrets = newSecrets();
  const wantsData = options.curves.includes('device-list') || options.curves.includes('history');
  const wantsRealtime = options.curves.includes('subscribers') || options.curves.includes('sessions');
  const data = wantsData
    ? await runDataCurves(options, build, tmpDir, seed, secrets)
    : { deviceList: null, auditEvents: null, sessionHistory: null };
  const realtime = wantsRealtime ? await runRealtimeCurves(options, build, tmpDir, seed, secrets) : { subscribers: null, sessions: null };
  return { ...data, ...realtime };
}

async function main(): Promise<number> {
  const startedAt = performance.now();
  let options: ScaleOptions | undefined;
  try {
    options = parseScaleOptions(process.argv.slice(2), RESULTS_DIR);
  } catch (error) {
    console.error(`bench:scale: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  if (!existsSync('/proc/self/stat')) throw new Error('the scale curves read CPU time and memory from /proc: run them on Linux');
  const estimate = estimateSeconds(options);
  // Twice the estimate, and never less than the issue's 12 minutes and a margin: past that something is stuck.
  installGuards('bench:scale', Math.max(options.quick ? 6 : 16, Math.ceil((2 * estimate) / 60)) * 60_000);
  setQuietWaitBudget(options.quick ? 15_000 : 60_000);
  const machine = machineInfo();
  log(`${options.curves.join(', ')} on ${machine.cpuModel} (${machine.cores} cores); about ${Math.ceil(estimate / 60)} min`);
  const root = await stateRoot();
  const tmpDir = await mkdtemp(join(root, 'switchyard-scale-'));
  trackTmpDir(tmpDir);

  const curves = await runCurves(options, tmpDir);
  const { outDir, ...settings } = options;
  const seeding = [curves.deviceList, curves.auditEvents, curves.sessionHistory].flatMap((curve) => curve?.seeding ?? []);
  const report: ScaleReport = {
    schema: 1,
    date: new Date().toISOString(),
    wallTimeS: (performance.now() - startedAt) / 1000,
    settings: { ...settings, stateRoot: root },
    machine,
    seeding,
    ...curves,
    pageCost: pageCostVerdict(curves.deviceList),
    charts: [],
  };
  report.charts = await writePlots(report, outDir).catch((error: unknown) => {
    log(`warning: the charts could not be drawn: ${(error as Error).message}`);
    return [];
  });
  const written = await writeScaleReport(report, outDir);
  console.log(`\n${verdictLine(report.pageCost).replaceAll('**', '').replaceAll('`', '')}`);
  log(`wrote ${written.json}, ${written.markdown} and ${report.charts.length} charts (wall time ${report.wallTimeS.toFixed(0)} s)`);
  return options.strict && report.pageCost?.grows ? 1 : 0;
}

main().then(
  (code) => exitWith(code),
  (error: unknown) => exitWith(2, `bench:scale: harness error: ${(error as Error)?.stack ?? String(error)}`),
);
