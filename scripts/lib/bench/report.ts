/**
 * The report: bench/results/latest.json (every run of every round, summaries, ratios, budgets,
 * the machine) and bench/results/latest.md (the tables, for bench/README.md).
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ROOT } from '../local-worker.ts';
import type { MachineInfo } from './machine.ts';
import type { BenchOptions } from './options.ts';
import { BUNDLE_BUDGET_KIB, type ScenarioSpec, type SideKey } from './scenarios.ts';
import { type Summary, summarize } from './stats.ts';

export interface RunRecord {
  round: number;
  /** 0 when this side ran first in its round. */
  position: number;
  /** req/s or deliveries/s. */
  throughput: number;
  p50Ms: number | null;
  p99Ms: number | null;
  cpuUsPerOp: number;
  peakRssMiB: number;
  operations: number;
  durationS: number;
  /** CPU use of the harness process (load generator / WebSocket clients) during the run, % of one core. */
  clientCpuPercent: number;
  /** CPU use of every other process on the machine during the run, % of one core: noise. */
  otherCpuPercent: number;
  /** The first measurement of this run was noisy (other processes busy); this is the second, quieter one. */
  remeasured: boolean;
}

export interface SideResult {
  label: string;
  target: string;
  informational: boolean;
  runs: RunRecord[];
}

export interface SideSummary {
  throughput: Summary;
  p50Ms: Summary | null;
  p99Ms: Summary | null;
  cpuUsPerOp: Summary;
  peakRssMiB: Summary;
  clientCpuPercent: Summary;
  otherCpuPercent: Summary;
}

export type BudgetStatus = 'pass' | 'fail' | 'error' | 'not run';

export interface BudgetResult {
  id: string;
  description: string;
  /** The ratio of medians (or the size in KiB for the bundle). */
  measured: number | null;
  /** Per-round ratios, min–max (null for the bundle). */
  range: { min: number; max: number } | null;
  comparison: '>=' | '<=';
  limit: number;
  status: BudgetStatus;
}

export interface ScenarioResult {
  id: string;
  title: string;
  meaning: string;
  unit: string;
  per: string;
  /** Why the scenario stopped, when Switchyard answered with errors. */
  error: string | null;
  sides: Partial<Record<SideKey, SideResult & { summary: SideSummary | null }>>;
  ratios: {
    throughput: number | null;
    cpuUsPerOp: number | null;
    p99: number | null;
    /** Per round, Switchyard ÷ reference. */
    throughputByRound: number[];
    cpuByRound: number[];
    p99ByRound: number[];
    /** Switchyard ÷ each informational side (e.g. the bare `fetch` Worker), by side. */
    informational: Partial<Record<SideKey, { throughput: number | null; cpuUsPerOp: number | null }>>;
  };
  budgets: BudgetResult[];
}

export interface Report {
  /** 2: budgets on CPU per operation (`cpuByRound`), informational ratios by side. */
  schema: 2;
  date: string;
  wallTimeS: number;
  settings: Omit<BenchOptions, 'outDir'> & { seededDevices: number; memoryMethod: string; stateRoot: string };
  machine: MachineInfo;
  bundle: { minifiedBytes: number; gzipBytes: number; budget: BudgetResult };
  scenarios: ScenarioResult[];
  pass: boolean;
}

function summarizeSide(runs: RunRecord[]): SideSummary | null {
  if (runs.length === 0) return null;
  const pick = (figure: 'throughput' | 'cpuUsPerOp' | 'peakRssMiB' | 'clientCpuPercent' | 'otherCpuPercent' | 'p50Ms' | 'p99Ms') =>
    runs.map((run) => run[figure] as number);
  const optional = (figure: 'p50Ms' | 'p99Ms') => (runs.every((run) => run[figure] !== null) ? summarize(pick(figure)) : null);
  return {
    throughput: summarize(pick('throughput')),
    p50Ms: optional('p50Ms'),
    p99Ms: optional('p99Ms'),
    cpuUsPerOp: summarize(pick('cpuUsPerOp')),
    peakRssMiB: summarize(pick('peakRssMiB')),
    clientCpuPercent: summarize(pick('clientCpuPercent')),
    otherCpuPercent: summarize(pick('otherCpuPercent')),
  };
}

function byRound(ours: RunRecord[], reference: RunRecord[], figure: 'throughput' | 'cpuUsPerOp' | 'p99Ms'): number[] {
  const ratios: number[] = [];
  for (const run of ours) {
    const other = reference.find((candidate) => candidate.round === run.round);
    const a = run[figure];
    const b = other?.[figure];
    if (a !== null && b !== null && b !== undefined && b > 0) ratios.push(a / b);
  }
  return ratios;
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null;
}

/** Summaries, ratios and budget verdicts of one scenario's runs. */
export function scenarioResult(spec: ScenarioSpec, sides: Partial<Record<SideKey, SideResult>>, error: string | null): ScenarioResult {
  const withSummaries: ScenarioResult['sides'] = {};
  for (const [key, side] of Object.entries(sides) as Array<[SideKey, SideResult]>) {
    withSummaries[key] = { ...side, summary: summarizeSide(side.runs) };
  }
  const ours = withSummaries.ours;
  const reference = withSummaries.reference;
  const throughputByRound = byRound(ours?.runs ?? [], reference?.runs ?? [], 'throughput');
  const cpuByRound = byRound(ours?.runs ?? [], reference?.runs ?? [], 'cpuUsPerOp');
  const p99ByRound = byRound(ours?.runs ?? [], reference?.runs ?? [], 'p99Ms');
  const informational: ScenarioResult['ratios']['informational'] = {};
  for (const [key, side] of Object.entries(withSummaries) as Array<[SideKey, ScenarioResult['sides'][SideKey]]>) {
    if (!side?.informational) continue;
    informational[key] = {
      throughput: ratio(ours?.summary?.throughput.median, side.summary?.throughput.median),
      cpuUsPerOp: ratio(ours?.summary?.cpuUsPerOp.median, side.summary?.cpuUsPerOp.median),
    };
  }
  const ratios = {
    informational,
    throughput: ratio(ours?.summary?.throughput.median, reference?.summary?.throughput.median),
    cpuUsPerOp: ratio(ours?.summary?.cpuUsPerOp.median, reference?.summary?.cpuUsPerOp.median),
    p99: ratio(ours?.summary?.p99Ms?.median, reference?.summary?.p99Ms?.median),
    throughputByRound,
    cpuByRound,
    p99ByRound,
  };
  const ran = (ours?.runs.length ?? 0) > 0 && (reference?.runs.length ?? 0) > 0;
  const budgets = spec.budgets.map((budget): BudgetResult => {
    const measured = budget.figure === 'cpu' ? ratios.cpuUsPerOp : ratios.p99;
    const rounds = budget.figure === 'cpu' ? cpuByRound : p99ByRound;
    let status: BudgetStatus;
    if (error !== null) status = 'error';
    else if (!ran || measured === null) status = 'not run';
    else status = measured <= budget.limit ? 'pass' : 'fail';
    return {
      id: budget.id,
      description: budget.description,
      measured,
      range: rounds.length > 0 ? { min: Math.min(...rounds), max: Math.max(...rounds) } : null,
      comparison: '<=',
      limit: budget.limit,
      status,
    };
  });
  return {
    id: spec.id,
    title: spec.title,
    meaning: spec.meaning,
    unit: spec.unit,
    per: spec.per,
    error,
    sides: withSummaries,
    ratios,
    budgets,
  };
}

export function bundleBudget(gzipBytes: number): BudgetResult {
  const kib = gzipBytes / 1024;
  return {
    id: 'bundle',
    description: 'Worker bundle, minified and gzipped (KiB)',
    measured: kib,
    range: null,
    comparison: '<=',
    limit: BUNDLE_BUDGET_KIB,
    status: kib <= BUNDLE_BUDGET_KIB ? 'pass' : 'fail',
  };
}

/** Every budget that was measured passed (budgets of scenarios not run do not count). */
export function allPass(report: Pick<Report, 'scenarios' | 'bundle'>): boolean {
  const budgets = [report.bundle.budget, ...report.scenarios.flatMap((scenario) => scenario.budgets)];
  return budgets.every((budget) => budget.status === 'pass' || budget.status === 'not run');
}

// --- Markdown ---

function fixed(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Three significant figures at most, thousands separated. */
function figure(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return fixed(Math.round(value), 0);
  if (magnitude >= 10) return fixed(value, 1);
  return fixed(value, 2);
}

function cell(summary: Summary | null | undefined, unit = ''): string {
  if (!summary || !Number.isFinite(summary.median)) return '—';
  const median = `${figure(summary.median)}${unit ? ` ${unit}` : ''}`;
  if (summary.min === summary.max) return median;
  return `${median} (${figure(summary.min)}–${figure(summary.max)})`;
}

/** Other processes using more than this share of a core during a run make its figures suspect. */
export const NOISY_PERCENT = 25;

const STATUS_TEXT: Record<BudgetStatus, string> = { pass: 'pass', fail: '**FAIL**', error: '**ERROR**', 'not run': 'not run' };

function budgetRow(budget: BudgetResult): string {
  const limit = `${budget.comparison === '>=' ? '≥' : '≤'} ${budget.id === 'bundle' ? `${budget.limit} KiB` : budget.limit.toFixed(2)}`;
  let measured = '—';
  if (budget.measured !== null) {
    measured = budget.id === 'bundle' ? `${budget.measured.toFixed(1)} KiB` : budget.measured.toFixed(2);
    if (budget.range) measured += ` (rounds ${budget.range.min.toFixed(2)}–${budget.range.max.toFixed(2)})`;
  }
  return `| ${budget.description} | ${measured} | ${limit} | ${STATUS_TEXT[budget.status]} |`;
}

function minutes(seconds: number): string {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** One row per side of a scenario, Switchyard first; its ratios on its own row, the informational ones on theirs. */
function figureRows(scenario: ScenarioResult): string[] {
  const versus = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? '' : `${figure(a)}× ${scenario.unit}, ${figure(b)}× CPU`;
  const rows: string[] = [];
  for (const [key, side] of Object.entries(scenario.sides) as Array<[SideKey, ScenarioResult['sides'][SideKey]]>) {
    if (!side) continue;
    const summary = side.summary;
    let compared = '';
    if (key === 'ours') compared = versus(scenario.ratios.throughput, scenario.ratios.cpuUsPerOp);
    else if (side.informational) {
      const { throughput = null, cpuUsPerOp = null } = scenario.ratios.informational[key] ?? {};
      compared = throughput === null ? '' : `Switchyard ÷ this: ${versus(throughput, cpuUsPerOp)} (information)`;
    }
    rows.push(
      `| ${rows.length === 0 ? scenario.title : ''} | ${side.label} | ${cell(summary?.throughput, scenario.unit)} | ${cell(summary?.p50Ms)} | ${cell(summary?.p99Ms)} | ${cell(summary?.cpuUsPerOp, `per ${scenario.per}`)} | ${cell(summary?.peakRssMiB)} | ${compared} |`,
    );
  }
  if (scenario.error) rows.push(`| ${scenario.title} | **error** | ${scenario.error.split('\n')[0]?.replaceAll('|', '\\|')} | | | | | |`);
  return rows;
}

/** How noisy the machine was, and how the figures were taken. */
function closingLines(report: Report): string[] {
  const { settings } = report;
  const allRuns = report.scenarios.flatMap((scenario) => Object.values(scenario.sides).flatMap((side) => side?.runs ?? []));
  const others = summarize(allRuns.map((run) => run.otherCpuPercent));
  const remeasured = allRuns.filter((run) => run.remeasured).length;
  const lines = [''];
  if (Number.isFinite(others.median)) {
    lines.push(
      `Other processes on the machine used ${figure(others.median)}% of one core during a run (median; max ${figure(others.max)}%)` +
        (remeasured > 0 ? `; ${remeasured} run${remeasured === 1 ? ' was' : 's were'} replaced by a quieter second measurement` : '') +
        (others.max > NOISY_PERCENT ? ': **some runs shared the machine with other work; their figures are less reliable.**' : '.'),
      '',
    );
  }
  lines.push(
    'CPU is the runtime process’s user + system time (/proc/<pid>/stat) over the run divided by requests (or frames delivered); ' +
      `peak RSS is the runtime process’s ${settings.memoryMethod === 'VmHWM' ? 'VmHWM, reset before each run' : 'highest sampled VmRSS'}. ` +
      `Each Worker runs in its own workerd process, its D1 and Durable Object state under ${settings.stateRoot}; the load generator shares the machine.`,
    '',
  );
  return lines;
}

export function renderMarkdown(report: Report): string {
  const { machine, settings } = report;
  const commit = machine.git.commit
    ? `commit ${machine.git.commit.slice(0, 10)}${machine.git.dirty ? ' + uncommitted changes' : ''}`
    : 'no git commit';
  return [
    `Measured ${report.date} on ${machine.cpuModel} (${machine.cores} cores, ${fixed(machine.totalMemoryMiB / 1024, 1)} GiB), ` +
      `Node ${machine.versions.node}, workerd ${machine.versions.workerd}, wrangler ${machine.versions.wrangler}, ${commit}. ` +
      `${settings.rounds} round${settings.rounds === 1 ? '' : 's'} × ${settings.duration} s per run, alternating which side runs first; ` +
      `${settings.connections} HTTP connections (autocannon ${machine.versions.autocannon}); fan-out ${settings.subscribers} subscribers, ` +
      `${settings.window} messages in flight. Wall time ${minutes(report.wallTimeS)}. Overall: ${report.pass ? 'every budget passes' : '**a budget fails**'}.`,
    '',
    '### Budgets (CPU per operation and p99: ratio of medians over rounds)',
    '',
    '| Budget | Measured | Limit | Result |',
    '| --- | --- | --- | --- |',
    ...report.scenarios.flatMap((scenario) => scenario.budgets.map(budgetRow)),
    budgetRow(report.bundle.budget),
    '',
    `Bundle: ${fixed(report.bundle.minifiedBytes / 1024, 1)} KiB minified, ${fixed(report.bundle.gzipBytes / 1024, 1)} KiB gzipped (\`wrangler deploy --dry-run --minify\`, gzip level 6).`,
    '',
    '### Figures (median, min–max over rounds)',
    '',
    '| Scenario | Worker | Throughput | p50 ms | p99 ms | CPU µs per op | Peak RSS MiB | Switchyard ÷ reference |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...report.scenarios.flatMap(figureRows),
    ...closingLines(report),
  ].join('\n');
}

/** The results are committed, and `npm run lint` checks JSON: lay the file out the way the repository's formatter does. */
function formatWithBiome(file: string): Promise<void> {
  return new Promise((resolve) => {
    execFile(join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', file], { cwd: ROOT }, (error, _stdout, stderr) => {
      if (error) console.warn(`bench: could not format ${file} with biome (the report is written): ${stderr || error.message}`);
      resolve();
    });
  });
}

/** Biome only formats files under the repository (it refuses others); results written elsewhere stay as JSON.stringify laid them out. */
export async function formatIfInRepository(file: string): Promise<void> {
  if (!relative(ROOT, file).startsWith('..')) await formatWithBiome(file);
}

export async function writeReport(report: Report, outDir: string): Promise<{ json: string; markdown: string }> {
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, 'latest.json');
  const markdown = join(outDir, 'latest.md');
  // Six significant digits are plenty for measurements and keep the committed file's diffs readable.
  const rounded = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value;
  await writeFile(json, `${JSON.stringify(report, rounded, 2)}\n`);
  await writeFile(markdown, renderMarkdown(report));
  await formatIfInRepository(json);
  return { json, markdown };
}
