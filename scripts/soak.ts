/**
 * `npm run soak`: the Worker under a mixed workload for minutes, first as it ships (`plain`), then
 * with D1 and Durable Object calls failing at a set rate (`chaos`, src/chaos/, `[env.chaos]`). Each
 * target runs on `wrangler dev` with a fresh local D1; a few clients create, read, update, delete
 * and list devices, open sessions and mint tokens, one publisher per session publishes while
 * WebSocket subscribers listen (some dropped on purpose, resuming with `last_seq`), and every
 * request the API says to repeat is repeated with the same Idempotency-Key. Then it checks, through
 * the API, that no acknowledged write was lost or made twice and every acknowledged message reached
 * every subscriber once; the plain run may answer no 5xx, the chaos run no 500 and no 5xx other
 * than a 503/504 problem with Retry-After; neither may grow the Worker's RSS by 10 % or more.
 *
 *   npm run soak                          # plain + chaos, 90 s each (≈ 5 minutes)
 *   npm run soak -- --smoke               # 20 s each, 40 subscribers (CI)
 *   npm run soak -- --target chaos --fault-rate 0.2 --seed 7
 *
 * Writes soak/results/latest.json and latest.md. Last line `soak: N passed, N failed`. Exit code:
 * 0 every check passes, 1 a check fails, 2 harness error.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { machineInfo } from './lib/bench/machine.ts';
import { ensureDevVars, type LocalWorker, ROOT } from './lib/local-worker.ts';
import { parseOptions, type SoakOptions, USAGE } from './lib/soak/options.ts';
import { RESULTS_DIR, type SoakReport, writeReport } from './lib/soak/report.ts';
import { runTarget, type TargetResult } from './lib/soak/run-target.ts';

/** Per target beyond its load: start, setup, drain and verification take ~45 s; past this something hangs. */
const WATCHDOG_SLACK_S = 180;

let running: LocalWorker | undefined;
let tmpDir: string | undefined;

function log(message: string): void {
  console.log(`soak: ${message}`);
}

async function abort(code: number, message: string): Promise<never> {
  console.error(`soak: ${message}`);
  await running?.stop().catch(() => undefined);
  if (tmpDir !== undefined) await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
  console.log('soak: 0 passed, 1 failed');
  process.exit(code);
}

process.on('SIGINT', () => void abort(130, 'interrupted; stopped the Worker it started'));
process.on('SIGTERM', () => void abort(143, 'terminated; stopped the Worker it started'));

/** Whether PATCH and DELETE /v1/devices/{id} take an Idempotency-Key, as the committed spec says today. */
async function keyedDeviceChanges(): Promise<boolean> {
  interface Operation {
    parameters?: Array<{ $ref?: string; in?: string; name?: string }>;
  }
  const spec = JSON.parse(await readFile(join(ROOT, 'openapi', 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
  };
  const item = spec.paths['/v1/devices/{id}'] ?? {};
  const takesKey = (operation: Operation | undefined) =>
    (operation?.parameters ?? []).some((parameter) => parameter.name === 'Idempotency-Key' || parameter.$ref?.endsWith('/IdempotencyKey'));
  return takesKey(item.patch) && takesKey(item.delete);
}

function printSummary(result: TargetResult): void {
  const failed = result.checks.filter((check) => !check.ok);
  log(
    `${result.target}: ${result.requests.requests} requests, p50 ${result.requests.p50Ms.toFixed(1)} ms, p99 ${result.requests.p99Ms.toFixed(1)} ms; ` +
      `statuses ${JSON.stringify(result.requests.statuses)}; heap ${result.heap.startMiB.toFixed(1)} → ${result.heap.endMiB.toFixed(1)} MiB, ` +
      `RSS ${result.rss.startMiB.toFixed(1)} → ${result.rss.endMiB.toFixed(1)} MiB${result.faultRate === null ? '' : `; ${result.worker.faultsInjected} faults injected`}`,
  );
  for (const check of result.checks) console.log(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  if (failed.length > 0) log(`${result.target}: ${failed.length} checks failed`);
}

async function main(options: SoakOptions): Promise<number> {
  const startedAt = new Date();
  const started = performance.now();
  await ensureDevVars();
  const keyedUpdates = await keyedDeviceChanges();
  const seed = options.seed ?? randomInt(2 ** 32);
  const watchdogS = options.targets.length * (options.duration + WATCHDOG_SLACK_S);
  setTimeout(() => void abort(2, `watchdog: still running after ${watchdogS} s; aborted`), watchdogS * 1000).unref();
  tmpDir = await mkdtemp(join(tmpdir(), 'switchyard-soak-'));
  const results: TargetResult[] = [];
  try {
    for (const target of options.targets) {
      log(`${target}: starting${target === 'chaos' ? ` (fault rate ${options.faultRate}, seed ${seed})` : ''}`);
      const result = await runTarget({
        target,
        options,
        dir: join(tmpDir, target),
        seed,
        keyedUpdates,
        log: (message) => log(`${target}: ${message}`),
        onWorker: (worker) => {
          running = worker;
        },
      });
      results.push(result);
      printSummary(result);
    }
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
    tmpDir = undefined;
  }
  const checks = results.flatMap((result) => result.checks);
  const failed = checks.filter((check) => !check.ok).length;
  const { outDir, ...reported } = options;
  const report: SoakReport = {
    startedAt: startedAt.toISOString(),
    wallSeconds: (performance.now() - started) / 1000,
    machine: machineInfo(),
    options: { ...reported, seed },
    results,
    passed: checks.length - failed,
    failed,
  };
  const written = await writeReport(report, outDir);
  log(`report: ${relative(ROOT, written.markdown)}, ${relative(ROOT, written.json)} (${report.wallSeconds.toFixed(0)} s in all)`);
  console.log(`soak: ${report.passed} passed, ${report.failed} failed`);
  return failed === 0 ? 0 : 1;
}

let options: SoakOptions | undefined;
try {
  options = parseOptions(process.argv.slice(2), RESULTS_DIR);
} catch (error) {
  console.error(`soak: ${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options === undefined) {
  console.log(USAGE);
  process.exit(0);
}
try {
  process.exitCode = await main(options);
} catch (error) {
  await abort(2, `harness error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}
