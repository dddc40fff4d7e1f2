/**
 * scale.md: the scale run's tables, the page-cost verdict first.
 */
import type { SessionsPoint } from './curve-sessions.ts';
import type { SubscriberCurve } from './curve-subscribers.ts';
import type { HttpCurve, HttpPoint, SeedTiming } from './curve-types.ts';
import type { PageCostVerdict, ScaleReport } from './report.ts';

/** Three significant figures or so, thousands separated: 1,136 · 54.1 · 8.16. */
export function figure(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const count = (value: number) => value.toLocaleString('en-US');
const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const table = (head: string[], rows: string[]) => [row(head), row(head.map(() => '---')), ...rows].join('\n');
const noisyMark = (noisy: boolean) => (noisy ? ' ⚠' : '');

export function verdictLine(verdict: PageCostVerdict | null): string {
  if (verdict === null) return '**Page cost grows with the table: not measured** (the device-list curve needs two sizes).';
  const sizes = verdict.budgetSizes
    ? ''
    : ` (sizes ${count(verdict.smallSize)} and ${count(verdict.largeSize)}, not the budget's 1,000 and 100,000)`;
  return (
    `**Page cost grows with the table: ${verdict.grows ? 'yes' : 'no'}** — \`GET /v1/devices?limit=50\`, first page: ` +
    `${figure(verdict.smallCpuUs)} µs of runtime CPU per request at ${count(verdict.smallSize)} devices, ${figure(verdict.largeCpuUs)} µs at ` +
    `${count(verdict.largeSize)}: ${verdict.ratio.toFixed(2)}× (budget ≤ ${verdict.limit}×)${sizes}.`
  );
}

/** Per query, CPU per request at each size and the largest size's multiple of the smallest's. */
function growthTable(curve: HttpCurve, unit: string): string {
  const sizes = [...new Set(curve.points.map((point) => point.size))].sort((a, b) => a - b);
  const queries = [...new Map(curve.points.map((point) => [point.query, point.title])).entries()];
  const rows = queries.map(([query, title]) => {
    const at = (size: number) => curve.points.find((point) => point.query === query && point.size === size);
    const first = at(sizes[0] as number);
    const last = at(sizes.at(-1) as number);
    const growth = first && last && sizes.length > 1 ? `${(last.cpuUsPerRequest / first.cpuUsPerRequest).toFixed(2)}×` : '—';
    return row([
      title,
      ...sizes.map((size) => {
        const point = at(size);
        return point ? `${figure(point.cpuUsPerRequest)}${noisyMark(point.noisy)}` : '—';
      }),
      growth,
    ]);
  });
  return table(['CPU µs per request', ...sizes.map((size) => `${count(size)} ${unit}`), 'largest ÷ smallest'], rows);
}

function httpTable(curve: HttpCurve, unit: string): string {
  const rows = curve.points.map((point: HttpPoint) =>
    row([
      count(point.size),
      point.title,
      point.rows,
      figure(point.rps),
      figure(point.p50Ms),
      figure(point.p99Ms),
      `${figure(point.cpuUsPerRequest)}${noisyMark(point.noisy)}`,
      figure(point.peakRssMiB),
      point.connections,
      count(point.requests),
    ]),
  );
  return table([unit, 'Query', 'Rows', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'Peak RSS MiB', 'Conns', 'Requests'], rows);
}

function subscribersTable(curve: SubscriberCurve): string {
  const rows = curve.points.map((point) =>
    row([
      `${count(point.subscribers)}${point.capLifted ? ' (cap lifted)' : ''}`,
      figure(point.connectS),
      figure(point.socketsPerS),
      figure(point.cpuUsPerConnect),
      `${figure(point.rssBeforeMiB)} → ${figure(point.rssAfterMiB)} → ${figure(point.rssAfterEndMiB)}`,
      figure(point.rssPerSocketKiB),
      count(point.messages),
      figure(point.p50Ms),
      figure(point.p99Ms),
      figure(point.deliveriesPerS),
      `${figure(point.cpuUsPerFrame)}${noisyMark(point.noisy)}`,
      figure(point.peakRssMiB),
    ]),
  );
  const skipped = curve.skipped.map((point) =>
    row([count(point.requested), `not measured: ${point.reason}`, '', '', '', '', '', '', '', '', '', '']),
  );
  const head = [
    'Subscribers',
    'Connect s',
    'Sockets/s',
    'CPU µs per connect',
    'RSS MiB before → connected → ended',
    'RSS KiB per socket',
    'Messages',
    'Delivery p50 ms',
    'p99 ms',
    'Deliveries/s',
    'CPU µs per frame',
    'Peak RSS MiB',
  ];
  return table(head, [...rows, ...skipped]);
}

function sessionsTable(points: SessionsPoint[]): string {
  const rows = points.map((point) =>
    row([
      count(point.sessions),
      count(point.sockets),
      figure(point.connectS),
      count(point.messages),
      figure(point.deliveriesPerS),
      figure(point.p50Ms),
      figure(point.p99Ms),
      `${figure(point.cpuUsPerFrame)}${noisyMark(point.noisy)}`,
      figure(point.rssAfterConnectMiB),
      figure(point.peakRssMiB),
    ]),
  );
  return table(
    [
      'Sessions',
      'Sockets',
      'Connect s',
      'Messages',
      'Deliveries/s',
      'Delivery p50 ms',
      'p99 ms',
      'CPU µs per frame',
      'RSS after connect MiB',
      'Peak RSS MiB',
    ],
    rows,
  );
}

function seedingTable(seeding: SeedTiming[]): string {
  return table(
    ['Seeded (not a measured figure)', 'Rows', 'Seconds'],
    seeding.map((entry) => row([entry.what, count(entry.rows), entry.seconds.toFixed(1)])),
  );
}

function header(report: ScaleReport): string {
  const { machine } = report;
  const commit = machine.git.commit
    ? `commit ${machine.git.commit.slice(0, 10)}${machine.git.dirty ? ' (with uncommitted changes)' : ''}`
    : 'no git commit';
  return (
    `Measured ${report.date} on ${machine.cpuModel} (${machine.cores} cores, ${(machine.totalMemoryMiB / 1024).toFixed(1)} GiB), Node ${machine.versions.node}, ` +
    `workerd ${machine.versions.workerd}, ${commit}. Wall time ${Math.floor(report.wallTimeS / 60)} min ${Math.round(report.wallTimeS % 60)} s. ` +
    `Settings: ${JSON.stringify(report.settings)}.`
  );
}

function noisyNote(report: ScaleReport): string {
  const noisy = [
    ...[report.deviceList, report.auditEvents, report.sessionHistory].flatMap(
      (curve) => curve?.points.filter((point) => point.noisy) ?? [],
    ),
    ...(report.subscribers?.points.filter((point) => point.noisy) ?? []),
    ...(report.sessions?.filter((point) => point.noisy) ?? []),
  ];
  return noisy.length === 0
    ? 'No point was noisy: other processes used less than 25% of a core during every measured run.'
    : `⚠ marks ${noisy.length} noisy point${noisy.length === 1 ? '' : 's'}: other processes used more than 25% of a core during the run (figures in scale.json).`;
}

export function reportMarkdown(report: ScaleReport): string {
  const sections = ['# Scale curves', header(report), verdictLine(report.pageCost)];
  if (report.deviceList) {
    sections.push(
      '## Device list and search (one organisation)',
      growthTable(report.deviceList, 'devices'),
      httpTable(report.deviceList, 'Devices'),
    );
  }
  if (report.auditEvents)
    sections.push('## Audit events', growthTable(report.auditEvents, 'events'), httpTable(report.auditEvents, 'Events'));
  if (report.sessionHistory) {
    sections.push(
      "## Session history (the room's storage)",
      growthTable(report.sessionHistory, 'messages'),
      httpTable(report.sessionHistory, 'Messages'),
    );
  }
  if (report.subscribers) sections.push('## WebSocket subscribers per session', subscribersTable(report.subscribers));
  if (report.sessions) sections.push('## Publishes across sessions at once', sessionsTable(report.sessions));
  if (report.seeding.length > 0) sections.push('## Seeding', seedingTable(report.seeding));
  sections.push(
    noisyNote(report),
    'CPU is the runtime process’s user + system time (/proc/<pid>/stat) over the run divided by requests (or frames delivered); peak RSS its VmHWM over the run. ' +
      'Switchyard runs alone in its workerd process, its D1 and Durable Object state under /dev/shm; the load generator shares the machine. See bench/README.md, “Scale curves”.',
  );
  return `${sections.join('\n\n')}\n`;
}
