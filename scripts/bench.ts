/**
 * `npm run bench`: Switchyard's performance against bare reference Workers, on this machine, in one
 * bounded run on loopback. Every target is built with wrangler and runs in its own Miniflare
 * instance (its own workerd process, reached on a direct socket); HTTP load comes from autocannon,
 * fan-out from WebSocket clients in this process. After a warm-up, every scenario runs for several
 * rounds, alternating which side goes first; the report gives the median and min–max of every
 * figure and holds the ratios of medians to the budgets of the performance issue.
 *
 *   npm run bench                                # 5 rounds × 5 s per run (≈ 6 minutes)
 *   npm run bench -- --rounds 1 --duration 2     # a quick look
 *   npm run bench -- --scenarios health,fan-out  # a subset
 *
 * Writes bench/results/latest.json and bench/results/latest.md. Exit code: 0 every budget passes,
 * 1 a budget fails (the report is still written), 2 harness error. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { constants, existsSync, rmSync } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSwitchyardClient, sessionSocketProtocols, sessionSocketUrl } from '../generated/client.ts';
import { MAX_FRAMES_PER_SECOND } from '../src/schemas/realtime.ts';
import { type Builds, buildAll } from './lib/bench/build.ts';
import { FanOutClients, type FanOutRoom } from './lib/bench/fan-out.ts';
import { type HttpRequestSpec, runHttpLoad, stopHttpLoad } from './lib/bench/http-load.ts';
import { machineInfo } from './lib/bench/machine.ts';
import { type BenchOptions, parseOptions, type ScenarioId, USAGE } from './lib/bench/options.ts';
import { otherCpuPercent, RunMeter } from './lib/bench/proc.ts';
import {
  allPass,
  bundleBudget,
  NOISY_PERCENT,
  type Report,
  type RunRecord,
  type SideResult,
  scenarioResult,
  writeReport,
} from './lib/bench/report.ts';
import { SCENARIOS, type ScenarioSpec, type SideKey, type SideSpec, type TargetName } from './lib/bench/scenarios.ts';
import { applySeed, createSeed, SEEDED_DEVICES, type Seed } from './lib/bench/seed.ts';
import { startTarget, stateDirFor, type Target, type TargetSpec } from './lib/bench/targets.ts';
import { ROOT } from './lib/local-worker.ts';

const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** The issue allows 10 minutes; past 12 something is wrong. */
const WATCHDOG_MS = 12 * 60 * 1000;
/** Pause between runs, so one run's tail (WAL checkpoints, closing sockets) does not land in the next. */
const SETTLE_MS = 300;
/** Unmeasured messages at the start of each fan-out run (a fresh room is a fresh Durable Object). */
const FAN_OUT_WARM_IN_MS = 1000;
// Production refuses placeholder origins (src/env.ts); never contacted.
const CORS_ORIGIN = 'https://app.switchyard.dev';
const CREATE_BODY = JSON.stringify({
  name: 'Benchmark kiosk',
  kind: 'iot',
  metadata: { floor: 3, model: 'Pixel 9', kiosk: true },
  tags: ['lobby', 'floor:3'],
});

/** Before a scenario's runs, wait for other work on the machine to stop, at most this long each time … */
const QUIET_WAIT_MS = 15_000;
/** … and this long over the whole run, which stays bounded. */
const QUIET_WAIT_BUDGET_MS = 60_000;
/** A run during which other processes were busy anyway is measured again, at most this many times per benchmark. */
const NOISY_REPEATS = 6;

/** Switchyard answered with errors: the scenario stops and its budgets fail; the others go on. */
class ScenarioFailure extends Error {}

const targets = new Map<TargetName, Target>();
let tmpDir: string | undefined;
let activeClients: FanOutClients | undefined;
let shuttingDown = false;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function log(message: string): void {
  console.log(`bench: ${message}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, sleep(ms).then(() => undefined)]);
}

/** Stops every runtime this run started and removes its temporary directory. */
async function cleanup(): Promise<void> {
  stopHttpLoad();
  activeClients?.close();
  const running = [...targets.values()];
  targets.clear();
  await Promise.allSettled(running.map((target) => withTimeout(target.dispose(), 10_000)));
  if (tmpDir !== undefined) await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
  tmpDir = undefined;
}

async function exit(code: number, message?: string): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => undefined);
  shuttingDown = true;
  if (message) console.error(message);
  await cleanup();
  process.exit(code);
}

/**
 * Interrupts and the watchdog end the run synchronously: Miniflare's own signal handler would
 * otherwise re-raise SIGINT and kill this process halfway through an asynchronous clean-up. The
 * runtimes started are killed by their process ids; Miniflare's exit hook tidies the rest.
 */
function abortNow(message: string): never {
  console.error(message);
  stopHttpLoad();
  activeClients?.close();
  for (const running of targets.values()) {
    try {
      process.kill(running.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (tmpDir !== undefined) rmSync(tmpDir, { recursive: true, force: true });
  process.exit(2);
}

process.on('SIGINT', () => abortNow('bench: interrupted; stopped every runtime it started'));
process.on('SIGTERM', () => abortNow('bench: terminated; stopped every runtime it started'));
process.on('unhandledRejection', (error) => abortNow(`bench: harness error: ${String((error as Error)?.stack ?? error)}`));
setTimeout(() => abortNow(`bench: watchdog: still running after ${WATCHDOG_MS / 60_000} minutes; aborted`), WATCHDOG_MS).unref();

/**
 * Where the runtimes keep D1 and Durable Object state: in memory (/dev/shm) when the machine has
 * it. On this VM's disk every Durable Object commit waits for a flush that made the fan-out figures
 * swing from 0.5 to 0.8 between rounds; production storage is not a local disk on the request path.
 * `BENCH_STATE_DIR` overrides it.
 */
async function stateRoot(): Promise<string> {
  if (process.env.BENCH_STATE_DIR) return process.env.BENCH_STATE_DIR;
  try {
    await access('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

// --- targets ---

function targetSpecs(builds: Builds, seed: Seed, dir: string): Record<TargetName, TargetSpec> {
  const common = (name: TargetName, scriptPath: string) => ({
    name,
    scriptPath,
    compatibilityDate: builds.compatibilityDate,
    stateDir: stateDirFor(dir, name),
  });
  const switchyardWorker = {
    d1Databases: { DB: 'switchyard-bench' },
    durableObjects: {
      RATE_LIMITER: { className: 'RateLimiter', useSQLite: true },
      SESSION_ROOM: { className: 'SessionRoom', useSQLite: true },
    },
    // As wrangler.toml has it: each write's dispatch runs after its response, so its cost is measured.
    queueProducers: { WEBHOOK_QUEUE: 'switchyard-webhooks-bench' },
    queueConsumers: { 'switchyard-webhooks-bench': { maxBatchSize: 10, maxBatchTimeout: 1 } },
    // As wrangler.toml has it: every request writes its metric, so that cost is measured too (the
    // local dataset takes each point and keeps none; Cloudflare's ingestion happens off the Worker).
    analyticsEngineDatasets: { METRICS: { dataset: 'switchyard_metrics_bench' } },
    // What ships: production settings, random secrets per run.
    bindings: {
      ENVIRONMENT: 'production',
      CORS_ORIGINS: CORS_ORIGIN,
      LOG_LEVEL: 'info',
      SESSION_JWT_SECRET: randomBytes(32).toString('base64url'),
      STORAGE_ENCRYPTION_SECRET: randomBytes(32).toString('base64url'),
    },
  };
  return {
    switchyard: { ...common('switchyard', builds.switchyard), worker: switchyardWorker },
    // The same Worker in a process of its own for the fan-out, as its reference has one: after the
    // HTTP scenarios a shared process spent ~15 % more CPU per frame (27 vs 23 µs, measured).
    'switchyard-realtime': { ...common('switchyard-realtime', builds.switchyard), worker: switchyardWorker },
    'bare-hono': {
      ...common('bare-hono', builds.references['bare-hono']),
      worker: { d1Databases: { DB: 'bare-hono-bench' }, bindings: { ORG_ID: seed.orgId } },
    },
    'bare-ok': { ...common('bare-ok', builds.references['bare-ok']), worker: {} },
    'bare-broadcast': {
      ...common('bare-broadcast', builds.references['bare-broadcast']),
      worker: { durableObjects: { ROOM: { className: 'BroadcastRoom', useSQLite: true } } },
    },
  };
}

function runtimePids(): number[] {
  return [...targets.values()].map((running) => running.pid);
}

function target(name: TargetName): Target {
  const found = targets.get(name);
  if (!found) throw new Error(`target ${name} is not running`);
  return found;
}

// --- scenarios ---

function httpRequest(id: ScenarioId, seed: Seed): HttpRequestSpec {
  // Both sides get the same request bytes; the references ignore what they do not use.
  const auth = { authorization: `Bearer ${seed.apiKey}` };
  const readId = seed.devices[Math.floor(SEEDED_DEVICES / 2)]?.id as string;
  switch (id) {
    case 'health':
      return { method: 'GET', path: '/health', headers: {}, expectStatus: 200 };
    case 'device-read':
      return { method: 'GET', path: `/v1/devices/${readId}`, headers: auth, expectStatus: 200 };
    case 'device-list':
      return { method: 'GET', path: '/v1/devices?limit=50', headers: auth, expectStatus: 200 };
    case 'device-create':
      return {
        method: 'POST',
        path: '/v1/devices',
        headers: { ...auth, 'content-type': 'application/json' },
        body: CREATE_BODY,
        freshIdempotencyKey: true,
        expectStatus: 201,
      };
    default:
      throw new Error(`${id} is not an HTTP scenario`);
  }
}

/** A Switchyard session for 1 publisher + N subscribers, through the generated client. */
async function switchyardRoom(base: URL, seed: Seed, subscribers: number): Promise<FanOutRoom> {
  const baseUrl = base.origin;
  const api = createSwitchyardClient({ baseUrl, apiKey: seed.apiKey });
  // The publisher sends as fast as its window allows, so the session lets a socket send the most frames a second a
  // session may allow (the default, 50, would measure the rate limit instead of the fan-out).
  const created = await api.POST('/v1/sessions', {
    body: { max_participants: subscribers + 1, ttl_seconds: 3600, frames_per_second: MAX_FRAMES_PER_SECOND },
  });
  if (!created.data) throw new ScenarioFailure(`POST /v1/sessions answered ${created.response.status}: ${JSON.stringify(created.error)}`);
  const sessionId = created.data.id;
  const tokens: string[] = [];
  for (let first = 0; first <= subscribers; first += 10) {
    const batch = [];
    for (let index = first; index <= Math.min(subscribers, first + 9); index += 1) {
      batch.push(
        api.POST('/v1/sessions/{id}/tokens', {
          params: { path: { id: sessionId } },
          body: { participant: `client:bench-${index}`, ttl_seconds: 900 },
        }),
      );
    }
    for (const minted of await Promise.all(batch)) {
      if (!minted.data)
        throw new ScenarioFailure(`minting a connect token answered ${minted.response.status}: ${JSON.stringify(minted.error)}`);
      tokens.push(minted.data.token);
    }
  }
  // The URL and subprotocols openSessionSocket (generated/client.ts) uses: the token travels as a subprotocol.
  const url = sessionSocketUrl({ baseUrl: base, sessionId });
  return {
    endpoint: (index) => ({ url, protocols: sessionSocketProtocols(tokens[index] as string) }),
    end: async () => {
      const ended = await api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
      if (!ended.data) throw new ScenarioFailure(`ending the session answered ${ended.response.status}: ${JSON.stringify(ended.error)}`);
    },
  };
}

function bareRoom(base: URL): FanOutRoom {
  const url = new URL(`/rooms/${randomBytes(8).toString('hex')}`, base);
  url.protocol = 'ws:';
  return { endpoint: () => ({ url, protocols: [] }), end: async () => undefined };
}

function describeFailure(side: SideSpec, running: Target, scenario: ScenarioSpec, what: string, samples: string[]): string {
  const lines = [`${side.label} (${running.name}) ${what} in ${scenario.title}.`];
  if (samples.length > 0) lines.push('  First responses / errors:', ...samples.map((sample) => `    ${sample}`));
  if (running.recentProblems.length > 0)
    lines.push('  Runtime warnings and errors:', ...running.recentProblems.slice(-5).map((line) => `    ${line}`));
  return lines.join('\n');
}

/** An error on Switchyard's side fails the scenario; on a reference's side it is a harness error. */
function failure(side: SideSpec, message: string): Error {
  return side.key === 'ours' ? new ScenarioFailure(message) : new Error(message);
}

async function runHttp(
  scenario: ScenarioSpec,
  side: SideSpec,
  seed: Seed,
  options: BenchOptions,
  durationS: number,
): Promise<Omit<RunRecord, 'round' | 'position'>> {
  const running = target(side.target);
  const meter = new RunMeter(running.pid, running.rss, runtimePids());
  meter.start();
  const result = await runHttpLoad(running.url, httpRequest(scenario.id, seed), { connections: options.connections, durationS });
  const measured = meter.stop();
  if (result.failures > 0 || result.requests === 0) {
    const what = `answered ${result.failures} of ${result.requests} requests with an unexpected status or failed them`;
    throw failure(side, describeFailure(side, running, scenario, what, result.failureSamples));
  }
  return {
    throughput: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuUsPerOp: measured.cpuMicros / result.requests,
    peakRssMiB: measured.peakRssMiB,
    operations: result.requests,
    durationS: result.durationS,
    clientCpuPercent: measured.clientCpuPercent,
    otherCpuPercent: measured.otherCpuPercent,
    remeasured: false,
  };
}

async function runFanOut(
  scenario: ScenarioSpec,
  side: SideSpec,
  seed: Seed,
  options: BenchOptions,
  durationS: number,
): Promise<Omit<RunRecord, 'round' | 'position'>> {
  const running = target(side.target);
  let clients: FanOutClients | undefined;
  let room: FanOutRoom | undefined;
  try {
    room = side.target === 'switchyard-realtime' ? await switchyardRoom(running.url, seed, options.subscribers) : bareRoom(running.url);
    clients = await FanOutClients.connect(room, options.subscribers, options.window, options.wsClient);
    activeClients = clients;
    await sleep(200);
    await clients.run(Math.min(FAN_OUT_WARM_IN_MS, durationS * 1000));
    const meter = new RunMeter(running.pid, running.rss, runtimePids());
    const result = await clients.run(durationS * 1000, () => meter.start());
    const measured = meter.stop();
    return {
      throughput: result.deliveriesPerS,
      p50Ms: null,
      p99Ms: null,
      cpuUsPerOp: measured.cpuMicros / result.deliveries,
      peakRssMiB: measured.peakRssMiB,
      operations: result.deliveries,
      durationS: result.durationS,
      clientCpuPercent: measured.clientCpuPercent,
      otherCpuPercent: measured.otherCpuPercent,
      remeasured: false,
    };
  } catch (error) {
    if (error instanceof ScenarioFailure) throw error;
    throw failure(side, describeFailure(side, running, scenario, `failed the fan-out run: ${(error as Error).message}`, []));
  } finally {
    clients?.prepareToClose();
    // Ending the session first closes its sockets without a presence broadcast per socket.
    await room?.end().catch(() => undefined);
    clients?.close();
    activeClients = undefined;
  }
}

let quietWaitLeftMs = QUIET_WAIT_BUDGET_MS;
let repeatsLeft = NOISY_REPEATS;

/**
 * Other processes competing for 2 cores move every figure; before a scenario's runs, wait (bounded)
 * until they use less than NOISY_PERCENT of a core. Runs that are noisy anyway are flagged in the report.
 */
async function awaitQuietMachine(): Promise<void> {
  const started = performance.now();
  let other = await otherCpuPercent(runtimePids(), 300);
  if (other <= NOISY_PERCENT) return;
  log(
    `other processes use ${other.toFixed(0)}% of a core; waiting up to ${Math.round(Math.min(QUIET_WAIT_MS, quietWaitLeftMs) / 1000)} s for them`,
  );
  while (other > NOISY_PERCENT && performance.now() - started < Math.min(QUIET_WAIT_MS, quietWaitLeftMs)) {
    other = await otherCpuPercent(runtimePids(), 500);
  }
  quietWaitLeftMs = Math.max(0, quietWaitLeftMs - (performance.now() - started));
}

function runSide(scenario: ScenarioSpec, side: SideSpec, seed: Seed, options: BenchOptions, durationS: number) {
  return scenario.kind === 'http' ? runHttp(scenario, side, seed, options, durationS) : runFanOut(scenario, side, seed, options, durationS);
}

function progress(round: string, scenario: ScenarioSpec, side: SideSpec, run: Omit<RunRecord, 'round' | 'position'>): void {
  const number = (value: number, digits = 0) =>
    value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const latency = run.p50Ms === null || run.p99Ms === null ? '' : `  p50 ${number(run.p50Ms, 2)} ms  p99 ${number(run.p99Ms, 2)} ms`;
  console.log(
    `[${round}] ${scenario.title.padEnd(34)} ${side.label.padEnd(24)} ${number(run.throughput).padStart(7)} ${scenario.unit}${latency}` +
      `  CPU ${number(run.cpuUsPerOp, 1)} µs/${scenario.per}  RSS ${number(run.peakRssMiB)} MiB  client ${number(run.clientCpuPercent)}%  other ${number(run.otherCpuPercent)}%`,
  );
}

// --- the run ---

/** Rough wall time: each run plus its set-up (a fan-out run opens a room and 100 sockets), warm-up, builds and start-up. */
function estimateSeconds(selected: ScenarioSpec[], options: BenchOptions): number {
  let seconds = 25;
  for (const scenario of selected) {
    const overhead = scenario.kind === 'http' ? 0.8 : 3;
    seconds +=
      scenario.sides.length * ((options.duration + overhead) * options.rounds + (options.warmup > 0 ? options.warmup + overhead : 0));
  }
  return seconds;
}

async function main(): Promise<number> {
  const startedAt = performance.now();
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2), RESULTS_DIR);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  if (!existsSync('/proc/self/stat')) throw new Error('the benchmark reads CPU time and memory from /proc: run it on Linux');
  const selected = SCENARIOS.filter((scenario) => options.scenarios.includes(scenario.id));
  const machine = machineInfo();
  log(
    `${selected.length} scenario${selected.length === 1 ? '' : 's'} × ${options.rounds} round${options.rounds === 1 ? '' : 's'} × ${options.duration} s on ${machine.cpuModel} (${machine.cores} cores); ` +
      `about ${Math.ceil(estimateSeconds(selected, options) / 60)} min`,
  );

  tmpDir = await mkdtemp(join(await stateRoot(), 'switchyard-bench-'));
  log('building Switchyard and the reference Workers with wrangler …');
  const builds = await buildAll(tmpDir);
  log(
    `bundle: ${(builds.bundle.minifiedBytes / 1024).toFixed(1)} KiB minified, ${(builds.bundle.gzipBytes / 1024).toFixed(1)} KiB gzipped`,
  );

  const seed = await createSeed();
  const specs = targetSpecs(builds, seed, tmpDir);
  const needed = new Set<TargetName>(selected.flatMap((scenario) => scenario.sides.map((side) => side.target)));
  // One at a time, so each new workerd process is known to belong to the instance just started.
  for (const name of ['switchyard', 'switchyard-realtime', 'bare-hono', 'bare-ok', 'bare-broadcast'] as const) {
    if (!needed.has(name)) continue;
    const started = await startTarget(specs[name]);
    targets.set(name, started);
    log(`${name} runs in workerd pid ${started.pid} at ${started.url.origin}`);
  }
  for (const name of ['switchyard', 'switchyard-realtime', 'bare-hono'] as const) {
    const running = targets.get(name);
    if (running) await applySeed((await running.mf.getD1Database('DB')) as unknown as D1Database, seed);
  }
  for (const name of ['switchyard', 'switchyard-realtime'] as const) {
    const running = targets.get(name);
    if (!running) continue;
    const ready = await fetch(new URL('/ready', running.url));
    if (ready.status !== 200) throw new Error(`${name}'s /ready answered ${ready.status}: ${await ready.text()}`);
  }
  log(`seeded ${SEEDED_DEVICES} devices and organisation ${seed.orgId} (rate limits ${'1,000,000,000'}/min) in both D1 databases`);

  const errors = new Map<ScenarioId, string>();
  const runs = new Map<ScenarioId, Partial<Record<SideKey, RunRecord[]>>>(selected.map((scenario) => [scenario.id, {}]));
  const attempt = async (scenario: ScenarioSpec, body: () => Promise<void>) => {
    if (errors.has(scenario.id)) return;
    try {
      await body();
    } catch (error) {
      if (!(error instanceof ScenarioFailure)) throw error;
      errors.set(scenario.id, error.message);
      console.error(`bench: ${scenario.title} stopped: Switchyard answered with errors, so its budgets fail.\n${error.message}`);
    }
  };

  if (options.warmup > 0) {
    log(`warming up every target for ${options.warmup} s per scenario (not measured) …`);
    for (const scenario of selected) {
      await attempt(scenario, async () => {
        for (const side of scenario.sides) {
          await runSide(scenario, side, seed, options, options.warmup);
          await sleep(SETTLE_MS);
        }
      });
    }
  }

  for (let round = 1; round <= options.rounds; round += 1) {
    for (const scenario of selected) {
      await attempt(scenario, async () => {
        await awaitQuietMachine();
        const order = round % 2 === 1 ? scenario.sides : [...scenario.sides].reverse();
        for (const [position, side] of order.entries()) {
          let run = await runSide(scenario, side, seed, options, options.duration);
          progress(`round ${round}/${options.rounds}`, scenario, side, run);
          if (run.otherCpuPercent > NOISY_PERCENT && repeatsLeft > 0) {
            repeatsLeft -= 1;
            log(`other processes used ${run.otherCpuPercent.toFixed(0)}% of a core during that run; measuring it again`);
            await awaitQuietMachine();
            const again = { ...(await runSide(scenario, side, seed, options, options.duration)), remeasured: true };
            progress(`round ${round}/${options.rounds}`, scenario, side, again);
            // Keep the quieter of the two.
            if (again.otherCpuPercent <= run.otherCpuPercent) run = again;
          }
          const bySide = runs.get(scenario.id) ?? {};
          bySide[side.key] = [...(bySide[side.key] ?? []), { round, position, ...run }];
          runs.set(scenario.id, bySide);
          await sleep(SETTLE_MS);
        }
      });
    }
  }

  const memoryMethod = target(selected[0]?.sides[0]?.target ?? 'switchyard').rss.method;
  const scenarios = selected.map((scenario) => {
    const sides: Partial<Record<SideKey, SideResult>> = {};
    for (const side of scenario.sides) {
      sides[side.key] = {
        label: side.label,
        target: side.target,
        informational: side.informational ?? false,
        runs: runs.get(scenario.id)?.[side.key] ?? [],
      };
    }
    return scenarioResult(scenario, sides, errors.get(scenario.id) ?? null);
  });
  const { outDir, ...settings } = options;
  const partial = {
    schema: 1 as const,
    date: new Date().toISOString(),
    wallTimeS: (performance.now() - startedAt) / 1000,
    settings: { ...settings, seededDevices: SEEDED_DEVICES, memoryMethod, stateRoot: await stateRoot() },
    machine,
    bundle: { ...builds.bundle, budget: bundleBudget(builds.bundle.gzipBytes) },
    scenarios,
  };
  const report: Report = { ...partial, pass: allPass(partial) };
  const written = await writeReport(report, outDir);

  console.log('');
  for (const budget of [...scenarios.flatMap((scenario) => scenario.budgets), report.bundle.budget]) {
    const measured = budget.measured === null ? '—' : budget.measured.toFixed(budget.id === 'bundle' ? 1 : 2);
    const limit = `${budget.comparison === '>=' ? '≥' : '≤'} ${budget.limit}`;
    console.log(`  ${budget.status.toUpperCase().padEnd(7)} ${budget.description.padEnd(58)} ${measured.padStart(6)} (${limit})`);
  }
  const noisy = scenarios.flatMap((scenario) =>
    Object.values(scenario.sides).flatMap((side) => side?.runs.filter((run) => run.otherCpuPercent > NOISY_PERCENT) ?? []),
  );
  if (noisy.length > 0) {
    log(`warning: during ${noisy.length} runs other processes used more than ${NOISY_PERCENT}% of a core; rerun on a quiet machine`);
  }
  log(`wrote ${written.json} and ${written.markdown} (wall time ${report.wallTimeS.toFixed(0)} s)`);
  return report.pass ? 0 : 1;
}

main().then(
  (code) => exit(code),
  (error: unknown) => exit(2, `bench: harness error: ${(error as Error)?.stack ?? String(error)}`),
);
