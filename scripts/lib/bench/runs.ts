/**
 * One measured run of one side of one scenario: HTTP load or a fan-out room, with the runtime
 * process's CPU time and peak memory over it, and the guard against a machine busy with other work.
 */
import { FanOutClients, type FanOutRoom } from './fan-out.ts';
import { runHttpLoad } from './http-load.ts';
import { sleep, trackClients } from './lifecycle.ts';
import type { BenchOptions } from './options.ts';
import { otherCpuPercent, RunMeter } from './proc.ts';
import { NOISY_PERCENT, type RunRecord } from './report.ts';
import { bareRoom, httpRequest, ScenarioFailure, type ScenarioSpec, type SideSpec, switchyardRoom, type TargetName } from './scenarios.ts';
import type { Seed } from './seed.ts';
import type { Target } from './targets.ts';

/** Unmeasured messages at the start of each fan-out run (a fresh room is a fresh Durable Object). */
const FAN_OUT_WARM_IN_MS = 1000;
/** Before a scenario's runs, wait for other work on the machine to stop, at most this long each time … */
const QUIET_WAIT_MS = 15_000;
/** … and this long over the whole run, which stays bounded. */
const QUIET_WAIT_BUDGET_MS = 60_000;
/** A run during which other processes were busy anyway is measured again, at most this many times per benchmark. */
const NOISY_REPEATS = 6;

export type Measured = Omit<RunRecord, 'round' | 'position'>;

/** What every run of a benchmark shares. */
export interface RunContext {
  targets: Map<TargetName, Target>;
  seed: Seed;
  options: BenchOptions;
  log: (message: string) => void;
}

function target(context: RunContext, name: TargetName): Target {
  const found = context.targets.get(name);
  if (!found) throw new Error(`target ${name} is not running`);
  return found;
}

function runtimePids(context: RunContext): number[] {
  return [...context.targets.values()].map((running) => running.pid);
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

async function runHttp(context: RunContext, scenario: ScenarioSpec, side: SideSpec, durationS: number): Promise<Measured> {
  const running = target(context, side.target);
  const meter = new RunMeter(running.pid, running.rss, runtimePids(context));
  meter.start();
  const request = httpRequest(scenario.id, context.seed);
  const result = await runHttpLoad(running.url, request, { connections: context.options.connections, durationS });
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

async function fanOutOnce(context: RunContext, running: Target, clients: FanOutClients, durationS: number): Promise<Measured> {
  trackClients(clients);
  await sleep(200);
  await clients.run(Math.min(FAN_OUT_WARM_IN_MS, durationS * 1000));
  const meter = new RunMeter(running.pid, running.rss, runtimePids(context));
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
}

async function runFanOut(context: RunContext, scenario: ScenarioSpec, side: SideSpec, durationS: number): Promise<Measured> {
  const running = target(context, side.target);
  const { subscribers, window, wsClient } = context.options;
  let clients: FanOutClients | undefined;
  let room: FanOutRoom | undefined;
  try {
    room = side.target === 'switchyard-realtime' ? await switchyardRoom(running.url, context.seed, subscribers) : bareRoom(running.url);
    clients = await FanOutClients.connect(room, subscribers, window, wsClient);
    return await fanOutOnce(context, running, clients, durationS);
  } catch (error) {
    if (error instanceof ScenarioFailure) throw error;
    throw failure(side, describeFailure(side, running, scenario, `failed the fan-out run: ${(error as Error).message}`, []));
  } finally {
    clients?.prepareToClose();
    // Ending the session first closes its sockets without a presence broadcast per socket.
    await room?.end().catch(() => undefined);
    clients?.close();
    trackClients(undefined);
  }
}

/** One run of one side, for `durationS` seconds. */
export function runSide(context: RunContext, scenario: ScenarioSpec, side: SideSpec, durationS: number): Promise<Measured> {
  return scenario.kind === 'http' ? runHttp(context, scenario, side, durationS) : runFanOut(context, scenario, side, durationS);
}

/**
 * Other processes competing for 2 cores move every figure: before a scenario's runs the guard
 * waits (bounded) until they use less than NOISY_PERCENT of a core, and a run that was noisy anyway
 * is measured once more (a bounded number of times), keeping the quieter of the two.
 */
export class NoiseGuard {
  private quietWaitLeftMs = QUIET_WAIT_BUDGET_MS;
  private repeatsLeft = NOISY_REPEATS;
  private readonly context: RunContext;

  constructor(context: RunContext) {
    this.context = context;
  }

  async awaitQuietMachine(): Promise<void> {
    const started = performance.now();
    const pids = runtimePids(this.context);
    const limitMs = Math.min(QUIET_WAIT_MS, this.quietWaitLeftMs);
    let other = await otherCpuPercent(pids, 300);
    if (other <= NOISY_PERCENT) return;
    this.context.log(`other processes use ${other.toFixed(0)}% of a core; waiting up to ${Math.round(limitMs / 1000)} s for them`);
    while (other > NOISY_PERCENT && performance.now() - started < limitMs) other = await otherCpuPercent(pids, 500);
    this.quietWaitLeftMs = Math.max(0, this.quietWaitLeftMs - (performance.now() - started));
  }

  /** A measured run, taken again when other processes were busy during it. */
  async measure(scenario: ScenarioSpec, side: SideSpec, report: (run: Measured) => void): Promise<Measured> {
    const durationS = this.context.options.duration;
    const run = await runSide(this.context, scenario, side, durationS);
    report(run);
    if (run.otherCpuPercent <= NOISY_PERCENT || this.repeatsLeft === 0) return run;
    this.repeatsLeft -= 1;
    this.context.log(`other processes used ${run.otherCpuPercent.toFixed(0)}% of a core during that run; measuring it again`);
    await this.awaitQuietMachine();
    const again = { ...(await runSide(this.context, scenario, side, durationS)), remeasured: true };
    report(again);
    return again.otherCpuPercent <= run.otherCpuPercent ? again : run;
  }
}

/** One progress line per run. */
export function progressLine(round: string, scenario: ScenarioSpec, side: SideSpec, run: Measured): string {
  const number = (value: number, digits = 0) =>
    value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const latency = run.p50Ms === null || run.p99Ms === null ? '' : `  p50 ${number(run.p50Ms, 2)} ms  p99 ${number(run.p99Ms, 2)} ms`;
  return (
    `[${round}] ${scenario.title.padEnd(34)} ${side.label.padEnd(26)} ${number(run.throughput).padStart(7)} ${scenario.unit}${latency}` +
    `  CPU ${number(run.cpuUsPerOp, 1)} µs/${scenario.per}  RSS ${number(run.peakRssMiB)} MiB  client ${number(run.clientCpuPercent)}%  other ${number(run.otherCpuPercent)}%`
  );
}
