/**
 * The soak's report: latest.json (every figure, RSS samples included) and latest.md (for people).
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { MachineInfo } from '../bench/machine.ts';
import { ROOT } from '../local-worker.ts';
import type { SoakOptions } from './options.ts';
import type { TargetResult } from './run-target.ts';

/** Where `npm run soak` writes by default: the report that is committed. */
export const RESULTS_DIR = join(ROOT, 'soak', 'results');
const COMMITTED_REPORT = relative(ROOT, join(RESULTS_DIR, 'latest.json'));

export interface SoakReport {
  startedAt: string;
  wallSeconds: number;
  machine: MachineInfo;
  options: Omit<SoakOptions, 'outDir'>;
  results: TargetResult[];
  passed: number;
  failed: number;
}

const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : '–');

function growth(figures: { startMiB: number; endMiB: number; growthPercent: number }): string {
  return `${figures.startMiB.toFixed(1)} → ${figures.endMiB.toFixed(1)} MiB (${figures.growthPercent >= 0 ? '+' : ''}${figures.growthPercent.toFixed(1)} %)`;
}

function statuses(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([status, count]) => `${status === '0' ? 'no answer' : status}: ${count}`)
    .join(', ');
}

function entries(record: Record<string, number>): string {
  const listed = Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
  return listed.length === 0 ? 'none' : listed.map(([key, count]) => `${key} ${count}`).join(', ');
}

function targetSection(result: TargetResult): string[] {
  const lines = [
    `## ${result.target}${result.faultRate === null ? '' : ` (fault rate ${result.faultRate}, seed ${result.seed})`}`,
    '',
    `wrangler environment: ${result.environment}; ${result.loadSeconds.toFixed(0)} s of load (memory baselines after ${result.warmupSeconds.toFixed(0)} s of warm-up), ${result.subscribers} subscribers on ${result.sessions} sessions; PATCH/DELETE ${result.keyedUpdates ? 'with' : 'without'} Idempotency-Key. The Worker's output: \`${result.target}-worker.log\` beside this report.`,
    '',
    `- Requests: ${result.requests.requests} (${result.requestsPerSecond.toFixed(0)}/s during the load), p50 ${ms(result.requests.p50Ms)}, p99 ${ms(result.requests.p99Ms)}`,
    `- Statuses: ${statuses(result.requests.statuses)}`,
    `- Worker heap after a full GC: ${result.heap.startMiB.toFixed(1)} → ${result.heap.endMiB.toFixed(1)} MiB (${result.heap.growthPercent.toFixed(1)} %)`,
    `- workerd RSS (reported, not judged): ${result.rss.startMiB.toFixed(1)} → ${result.rss.endMiB.toFixed(1)} MiB (${result.rss.growthPercent.toFixed(1)} %), peak ${result.rss.peakMiB.toFixed(1)} MiB; workerd CPU ${result.workerCpuPercent.toFixed(0)} % of a core`,
    `- Devices: ${result.devices.createsAcknowledged} creates acknowledged, ${result.devices.createsUnresolved} unresolved (${result.devices.unresolvedThatExist} of them committed), ${result.devices.rows} rows at the end`,
    `- Messages: ${result.messages.acknowledged} publishes acknowledged, ${result.messages.unresolved} unresolved (${result.messages.unresolvedDelivered} of them delivered); ${result.messages.reconnects} resumed reconnects, ${result.messages.failedConnects} failed connect attempts, unexpected closes: ${entries(result.messages.unexpectedCloses)}`,
    `- Gave up after every retry: ${entries(result.gaveUp)}; idempotent replays: ${entries(result.replays)}`,
  ];
  if (result.faultRate !== null) {
    lines.push(
      `- Faults injected: ${result.worker.faultsInjected} (${entries(result.worker.faults)})`,
      `- Breaker transitions: ${entries(result.worker.breakerTransitions)}`,
    );
  }
  lines.push('', '| Route | Requests | p50 | p99 | Statuses |', '| --- | ---: | ---: | ---: | --- |');
  for (const [route, figures] of Object.entries(result.routes)) {
    lines.push(`| ${route} | ${figures.requests} | ${ms(figures.p50Ms)} | ${ms(figures.p99Ms)} | ${statuses(figures.statuses)} |`);
  }
  lines.push('', '| Check | Result | Detail |', '| --- | --- | --- |');
  for (const check of result.checks)
    lines.push(`| ${check.name} | ${check.ok ? 'pass' : '**FAIL**'} | ${check.detail.replaceAll('|', '\\|')} |`);
  const unpromised = result.serverErrors.filter((error) => !error.promised);
  if (unpromised.length > 0) {
    lines.push('', '5xx responses that are not a 503/504 problem with Retry-After:', '');
    for (const error of unpromised)
      lines.push(`- ${error.at} ${error.route} → ${error.status} ${error.code ?? ''} (request ${error.requestId ?? '?'})`);
  }
  if (result.worker.internalErrorLines.length > 0) {
    lines.push('', 'The Worker’s log lines of those 500s:', '', '```');
    lines.push(...result.worker.internalErrorLines);
    lines.push('```');
  }
  if (result.unexpected.length > 0) {
    lines.push('', 'Unexpected statuses:', '');
    for (const item of result.unexpected.slice(0, 20)) lines.push(`- ${item.route} → ${item.status} ${item.code ?? ''} (${item.note})`);
  }
  lines.push('');
  return lines;
}

export function renderMarkdown(report: SoakReport): string {
  const { machine, options } = report;
  const lines = [
    '# Soak',
    '',
    `${report.startedAt}, ${report.wallSeconds.toFixed(0)} s in all; ${machine.cpuModel}, ${machine.cores} cores; Node ${machine.versions.node}, wrangler ${machine.versions.wrangler}, workerd ${machine.versions.workerd}; commit ${machine.git.commit?.slice(0, 12) ?? 'unknown'}${machine.git.dirty ? ' (uncommitted changes)' : ''}.`,
    `Options: ${options.targets.join(' + ')}, ${options.duration} s each, ${options.subscribers} subscribers on ${options.sessions} sessions, ${options.clients} device clients${options.smoke ? ' (smoke)' : ''}.`,
    '',
    '| Target | Requests | p50 | p99 | 5xx | Worker heap | workerd RSS | Faults | Checks |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |',
  ];
  for (const result of report.results) {
    const fiveHundreds = Object.entries(result.requests.statuses)
      .filter(([status]) => Number(status) >= 500)
      .reduce((sum, [, count]) => sum + count, 0);
    const failed = result.checks.filter((check) => !check.ok).length;
    lines.push(
      `| ${result.target} | ${result.requests.requests} | ${ms(result.requests.p50Ms)} | ${ms(result.requests.p99Ms)} | ${fiveHundreds} | ${growth(result.heap)} | ${growth(result.rss)} | ${result.faultRate === null ? '–' : result.worker.faultsInjected} | ${result.checks.length - failed} passed, ${failed} failed |`,
    );
  }
  lines.push('');
  for (const result of report.results) lines.push(...targetSection(result));
  lines.push(`soak: ${report.passed} passed, ${report.failed} failed`, '');
  return lines.join('\n');
}

/**
 * The results are committed, and `npm run lint` checks JSON: lay the text out the way the repository's formatter lays out
 * the committed report. It is formatted through stdin under that path, so a report written elsewhere (CI writes under the
 * ignored reports/) gets the same layout instead of a warning that the path is ignored.
 */
function formatLikeCommittedReport(text: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(
      join(ROOT, 'node_modules', '.bin', 'biome'),
      ['format', `--stdin-file-path=${COMMITTED_REPORT}`],
      { cwd: ROOT },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        console.warn(`soak: could not format the JSON report with biome (it keeps JSON.stringify's layout): ${stderr || error.message}`);
        resolve(text);
      },
    );
    child.stdin?.end(text);
  });
}

export async function writeReport(report: SoakReport, outDir: string): Promise<{ json: string; markdown: string }> {
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, 'latest.json');
  const markdown = join(outDir, 'latest.md');
  // Four significant digits are plenty for these figures and keep the committed file's diffs readable.
  const rounded = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value;
  await writeFile(json, await formatLikeCommittedReport(`${JSON.stringify(report, rounded, 2)}\n`));
  await writeFile(markdown, renderMarkdown(report));
  return { json, markdown };
}
