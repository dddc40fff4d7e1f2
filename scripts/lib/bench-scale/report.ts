/**
 * The scale run's report: bench/results/scale.json (every figure, the settings, the machine) and
 * scale.md (its tables), and the one verdict the curves have: whether the device list's first page
 * costs more CPU as the organisation's table grows.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MachineInfo } from '../bench/machine.ts';
import { formatIfInRepository } from '../bench/report.ts';
import type { SessionsPoint } from './curve-sessions.ts';
import type { SubscriberCurve } from './curve-subscribers.ts';
import type { HttpCurve, SeedTiming } from './curve-types.ts';
import { reportMarkdown } from './report-markdown.ts';

/** The budget: the first page at the largest size may cost at most this many times its CPU at the smallest. */
export const PAGE_COST_LIMIT = 1.5;

export interface PageCostVerdict {
  smallSize: number;
  largeSize: number;
  smallCpuUs: number;
  largeCpuUs: number;
  ratio: number;
  limit: number;
  grows: boolean;
  /** Whether the sizes compared are the budget's own, 1,000 and 100,000 devices. */
  budgetSizes: boolean;
}

export interface ScaleReport {
  schema: 1;
  date: string;
  wallTimeS: number;
  settings: Record<string, unknown>;
  machine: MachineInfo;
  seeding: SeedTiming[];
  deviceList: HttpCurve | null;
  auditEvents: HttpCurve | null;
  sessionHistory: HttpCurve | null;
  subscribers: SubscriberCurve | null;
  sessions: SessionsPoint[] | null;
  pageCost: PageCostVerdict | null;
  charts: string[];
}

/** First page at the smallest size measured against the largest; null with fewer than two sizes. */
export function pageCostVerdict(deviceList: HttpCurve | null): PageCostVerdict | null {
  const firstPages = (deviceList?.points ?? []).filter((point) => point.query === 'first').sort((a, b) => a.size - b.size);
  const small = firstPages[0];
  const large = firstPages.at(-1);
  if (!small || !large || small === large) return null;
  const ratio = large.cpuUsPerRequest / small.cpuUsPerRequest;
  return {
    smallSize: small.size,
    largeSize: large.size,
    smallCpuUs: small.cpuUsPerRequest,
    largeCpuUs: large.cpuUsPerRequest,
    ratio,
    limit: PAGE_COST_LIMIT,
    grows: ratio > PAGE_COST_LIMIT,
    budgetSizes: small.size === 1_000 && large.size === 100_000,
  };
}

export async function writeScaleReport(report: ScaleReport, outDir: string): Promise<{ json: string; markdown: string }> {
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, 'scale.json');
  const markdown = join(outDir, 'scale.md');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, reportMarkdown(report));
  await formatIfInRepository(json);
  return { json, markdown };
}
