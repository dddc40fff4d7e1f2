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
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { buildAll } from './lib/bench/build.ts';
import { exitWith, installGuards, sleep, trackTmpDir } from './lib/bench/lifecycle.ts';
import { machineInfo } from './lib/bench/machine.ts';
import { type BenchOptions, parseOptions, type ScenarioId, USAGE } from './lib/bench/options.ts';
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
import { NoiseGuard, progressLine, type RunContext, runSide } from './lib/bench/runs.ts';
import { SCENARIOS, ScenarioFailure, type ScenarioSpec, type SideKey, type TargetName } from './lib/bench/scenarios.ts';
import { createSeed, SEEDED_DEVICES } from './lib/bench/seed.ts';
import { startTargets, stateRoot, targetSpecs } from './lib/bench/targets.ts';
import { ROOT } from './lib/local-worker.ts';

const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** The issue allows 10 minutes; past 12 something is wrong. */
const WATCHDOG_MS = 12 * 60 * 1000;
/** Pause between runs, so one run's tail (WAL checkpoints, closing sockets) does not land in the next. */
const SETTLE_MS = 300;

installGuards('bench', WATCHDOG_MS);

function log(message: string): void {
  console.log(`bench: ${message}`);
}

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

/** Every run of every scenario, by side, and why a scenario stopped. */
class Results {
  readonly errors = new Map<ScenarioId, string>();
  private readonly runs = new Map<ScenarioId, Partial<Record<SideKey, RunRecord[]>>>();

  add(scenario: ScenarioId, side: SideKey, run: RunRecord): void {
    const bySide = this.runs.get(scenario) ?? {};
    bySide[side] = [...(bySide[side] ?? []), run];
    this.runs.set(scenario, bySide);
  }

  of(scenario: ScenarioId, side: SideKey): RunRecord[] {
    return this.runs.get(scenario)?.[side] ?? [];
  }

  /** Runs `body` unless the scenario already stopped; Switchyard answering with errors stops it. */
  async attempt(scenario: ScenarioSpec, body: () => Promise<void>): Promise<void> {
    if (this.errors.has(scenario.id)) return;
    try {
      await body();
    } catch (error) {
      if (!(error instanceof ScenarioFailure)) throw error;
      this.errors.set(scenario.id, error.message);
      console.error(`bench: ${scenario.title} stopped: Switchyard answered with errors, so its budgets fail.\n${error.message}`);
    }
  }
}

async function warmUp(context: RunContext, selected: ScenarioSpec[], results: Results): Promise<void> {
  if (context.options.warmup === 0) return;
  log(`warming up every target for ${context.options.warmup} s per scenario (not measured) …`);
  for (const scenario of selected) {
    await results.attempt(scenario, async () => {
      for (const side of scenario.sides) {
        await runSide(context, scenario, side, context.options.warmup);
        await sleep(SETTLE_MS);
      }
    });
  }
}

async function measureRounds(context: RunContext, selected: ScenarioSpec[], results: Results): Promise<void> {
  const guard = new NoiseGuard(context);
  const { rounds } = context.options;
  for (let round = 1; round <= rounds; round += 1) {
    for (const scenario of selected) {
      await results.attempt(scenario, async () => {
        await guard.awaitQuietMachine();
        const order = round % 2 === 1 ? scenario.sides : [...scenario.sides].reverse();
        for (const [position, side] of order.entries()) {
          const run = await guard.measure(scenario, side, (measured) =>
            console.log(progressLine(`round ${round}/${rounds}`, scenario, side, measured)),
          );
          results.add(scenario.id, side.key, { round, position, ...run });
          await sleep(SETTLE_MS);
        }
      });
    }
  }
}

function printVerdicts(report: Report): void {
  console.log('');
  for (const budget of [...report.scenarios.flatMap((scenario) => scenario.budgets), report.bundle.budget]) {
    const measured = budget.measured === null ? '—' : budget.measured.toFixed(budget.id === 'bundle' ? 1 : 2);
    console.log(`  ${budget.status.toUpperCase().padEnd(7)} ${budget.description.padEnd(62)} ${measured.padStart(6)} (≤ ${budget.limit})`);
  }
  const noisy = report.scenarios.flatMap((scenario) =>
    Object.values(scenario.sides).flatMap((side) => side?.runs.filter((run) => run.otherCpuPercent > NOISY_PERCENT) ?? []),
  );
  if (noisy.length > 0) {
    log(`warning: during ${noisy.length} runs other processes used more than ${NOISY_PERCENT}% of a core; rerun on a quiet machine`);
  }
}

interface Prepared {
  context: RunContext;
  bundle: { minifiedBytes: number; gzipBytes: number };
}

async function prepare(options: BenchOptions, selected: ScenarioSpec[], tmpDir: string): Promise<Prepared> {
  log('building Switchyard and the reference Workers with wrangler …');
  const builds = await buildAll(tmpDir);
  log(
    `bundle: ${(builds.bundle.minifiedBytes / 1024).toFixed(1)} KiB minified, ${(builds.bundle.gzipBytes / 1024).toFixed(1)} KiB gzipped`,
  );
  const seed = await createSeed();
  const needed = new Set<TargetName>(selected.flatMap((scenario) => scenario.sides.map((side) => side.target)));
  const targets = await startTargets(needed, (logLineBytes) => targetSpecs(builds, seed, tmpDir, logLineBytes), seed, log);
  log(`seeded ${SEEDED_DEVICES} devices and organisation ${seed.orgId} (rate limits 1,000,000,000/min) in every D1 database`);
  return { context: { targets, seed, options, log }, bundle: builds.bundle };
}

async function buildReport(prepared: Prepared, selected: ScenarioSpec[], results: Results, startedAt: number): Promise<Report> {
  const { context, bundle } = prepared;
  const scenarios = selected.map((scenario) => {
    const sides: Partial<Record<SideKey, SideResult>> = {};
    for (const side of scenario.sides) {
      const runs = results.of(scenario.id, side.key);
      sides[side.key] = { label: side.label, target: side.target, informational: side.informational ?? false, runs };
    }
    return scenarioResult(scenario, sides, results.errors.get(scenario.id) ?? null);
  });
  const { outDir: _outDir, ...settings } = context.options;
  const memoryMethod = [...context.targets.values()][0]?.rss.method ?? 'VmHWM';
  const partial = {
    schema: 2 as const,
    date: new Date().toISOString(),
    wallTimeS: (performance.now() - startedAt) / 1000,
    settings: { ...settings, seededDevices: SEEDED_DEVICES, memoryMethod, stateRoot: await stateRoot() },
    machine: machineInfo(),
    bundle: { ...bundle, budget: bundleBudget(bundle.gzipBytes) },
    scenarios,
  };
  return { ...partial, pass: allPass(partial) };
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
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  log(
    `${plural(selected.length, 'scenario')} × ${plural(options.rounds, 'round')} × ${options.duration} s on ${machine.cpuModel} (${machine.cores} cores); ` +
      `about ${Math.ceil(estimateSeconds(selected, options) / 60)} min`,
  );
  const tmpDir = await mkdtemp(join(await stateRoot(), 'switchyard-bench-'));
  trackTmpDir(tmpDir);
  const prepared = await prepare(options, selected, tmpDir);
  const results = new Results();
  await warmUp(prepared.context, selected, results);
  await measureRounds(prepared.context, selected, results);
  const report = await buildReport(prepared, selected, results, startedAt);
  const written = await writeReport(report, options.outDir);
  printVerdicts(report);
  log(`wrote ${written.json} and ${written.markdown} (wall time ${report.wallTimeS.toFixed(0)} s)`);
  return report.pass ? 0 : 1;
}

main().then(
  (code) => exitWith(code),
  (error: unknown) => exitWith(2, `bench: harness error: ${(error as Error)?.stack ?? String(error)}`),
);
