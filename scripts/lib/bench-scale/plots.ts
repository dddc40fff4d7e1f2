/**
 * One PNG per curve (bench/results/scale-<curve>.png), drawn by chart.ts from the report.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Figure, figureSvg, type Panel, renderPng, type Series } from './chart.ts';
import type { HttpPoint } from './curve-types.ts';
import type { ScaleReport } from './report.ts';

type Metric<P> = { title: string; yLabel: string; value: (point: P) => number };

const HTTP_METRICS: Array<Metric<HttpPoint>> = [
  { title: 'CPU per request', yLabel: 'µs of runtime CPU per request', value: (point) => point.cpuUsPerRequest },
  { title: 'Throughput', yLabel: 'requests/s', value: (point) => point.rps },
  { title: 'Latency p99', yLabel: 'ms (p99)', value: (point) => point.p99Ms },
  { title: 'Peak RSS', yLabel: 'MiB (runtime process)', value: (point) => point.peakRssMiB },
];

/** One line per query: `prefix` + its title. */
function querySeries(points: readonly HttpPoint[], metric: Metric<HttpPoint>, prefix = ''): Series[] {
  const queries = [...new Map(points.map((point) => [point.query, point.legend])).entries()];
  return queries.map(([query, legend]) => ({
    name: `${prefix}${legend}`,
    points: points.filter((point) => point.query === query).map((point) => ({ x: point.size, y: metric.value(point) })),
  }));
}

function subtitle(report: ScaleReport, what: string): string {
  const commit = report.machine.git.commit?.slice(0, 10) ?? 'no commit';
  return `${what}; ${report.date.slice(0, 16).replace('T', ' ')} UTC, ${report.machine.cpuModel} (${report.machine.cores} cores), commit ${commit}`;
}

function httpFigure(
  title: string,
  what: string,
  xLabel: string,
  report: ScaleReport,
  parts: Array<{ points: HttpPoint[]; prefix: string }>,
): Figure {
  const panels: Panel[] = HTTP_METRICS.map((metric) => ({
    title: metric.title,
    xLabel,
    yLabel: metric.yLabel,
    series: parts.flatMap((part) => querySeries(part.points, metric, part.prefix)),
  }));
  return { title, subtitle: subtitle(report, what), panels };
}

function subscribersFigure(report: ScaleReport): Figure | undefined {
  const points = report.subscribers?.points ?? [];
  if (points.length === 0) return undefined;
  const at = (value: (point: (typeof points)[number]) => number) => points.map((point) => ({ x: point.subscribers, y: value(point) }));
  const xLabel = 'subscribers in the session';
  return {
    title: 'WebSocket subscribers per session',
    subtitle: subtitle(report, 'one session, one publisher, one message in flight'),
    panels: [
      {
        title: 'Delivery time (send → last subscriber)',
        xLabel,
        yLabel: 'ms',
        series: [
          { name: 'p50', points: at((point) => point.p50Ms) },
          { name: 'p99', points: at((point) => point.p99Ms) },
        ],
      },
      {
        title: 'CPU per delivered frame',
        xLabel,
        yLabel: 'µs of runtime CPU per frame',
        series: [{ name: 'frame', points: at((point) => point.cpuUsPerFrame) }],
      },
      {
        title: 'Memory per socket',
        xLabel,
        yLabel: 'KiB of runtime RSS per socket',
        series: [{ name: 'RSS', points: at((point) => point.rssPerSocketKiB) }],
      },
      {
        title: 'Connect rate',
        xLabel,
        yLabel: 'sockets connected per second',
        series: [{ name: 'connect', points: at((point) => point.socketsPerS) }],
      },
    ],
  };
}

function sessionsFigure(report: ScaleReport): Figure | undefined {
  const points = report.sessions ?? [];
  if (points.length === 0) return undefined;
  const at = (value: (point: (typeof points)[number]) => number) => points.map((point) => ({ x: point.sessions, y: value(point) }));
  const xLabel = 'sessions publishing at once';
  return {
    title: 'Publishes across sessions at once',
    subtitle: subtitle(report, `${points[0]?.subscribersPerSession} subscribers and one publisher per session`),
    panels: [
      {
        title: 'Deliveries',
        xLabel,
        yLabel: 'frames delivered per second (all sessions)',
        series: [{ name: 'deliveries', points: at((point) => point.deliveriesPerS) }],
      },
      {
        title: 'Delivery time (send → last subscriber)',
        xLabel,
        yLabel: 'ms',
        series: [
          { name: 'p50', points: at((point) => point.p50Ms) },
          { name: 'p99', points: at((point) => point.p99Ms) },
        ],
      },
      {
        title: 'CPU per delivered frame',
        xLabel,
        yLabel: 'µs of runtime CPU per frame',
        series: [{ name: 'frame', points: at((point) => point.cpuUsPerFrame) }],
      },
      { title: 'Peak RSS', xLabel, yLabel: 'MiB (runtime process)', series: [{ name: 'RSS', points: at((point) => point.peakRssMiB) }] },
    ],
  };
}

function httpFigures(report: ScaleReport): Array<[string, Figure]> {
  const figures: Array<[string, Figure]> = [];
  if (report.deviceList) {
    const what = 'GET /v1/devices?limit=50 in one organisation';
    figures.push([
      'scale-device-list.png',
      httpFigure('Device list and search by table size', what, 'devices in the organisation', report, [
        { points: report.deviceList.points, prefix: '' },
      ]),
    ]);
  }
  const history = [
    ...(report.auditEvents ? [{ points: report.auditEvents.points, prefix: 'audit: ' }] : []),
    ...(report.sessionHistory ? [{ points: report.sessionHistory.points, prefix: 'session: ' }] : []),
  ];
  if (history.length > 0) {
    const what = 'GET /v1/audit-events?limit=50 and GET /v1/sessions/{id}/messages?limit=100';
    figures.push([
      'scale-history.png',
      httpFigure('Audit log and session history by length', what, 'rows (events, or messages in the session)', report, history),
    ]);
  }
  return figures;
}

/** Writes every curve's PNG into `outDir`; returns the file names. */
export async function writePlots(report: ScaleReport, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const realtime: Array<[string, Figure | undefined]> = [
    ['scale-subscribers.png', subscribersFigure(report)],
    ['scale-sessions.png', sessionsFigure(report)],
  ];
  for (const [file, figure] of [...httpFigures(report), ...realtime]) {
    if (figure === undefined) continue;
    await writeFile(join(outDir, file), renderPng(figureSvg(figure)));
    written.push(file);
  }
  return written;
}
