/**
 * Command-line options of `npm run bench:scale`.
 */
import { parseArgs } from 'node:util';

export const CURVE_IDS = ['device-list', 'history', 'subscribers', 'sessions'] as const;
export type CurveId = (typeof CURVE_IDS)[number];

export interface ScaleOptions {
  curves: CurveId[];
  /** Devices in the organisation, per point of the device-list curve. */
  devices: number[];
  /** Rows per point of the history curve: audit events, and messages in a session. */
  history: number[];
  /** Subscribers per session, per point of the subscribers curve. */
  subscribers: number[];
  /** Sessions publishing at once, per point of the sessions curve. */
  sessions: number[];
  subscribersPerSession: number;
  /** Seconds per measured HTTP point, and per sessions point. */
  duration: number;
  /** Seconds of unmeasured load per HTTP point. */
  warmup: number;
  connections: number;
  /** Deliveries per subscribers point (messages = this ÷ subscribers). */
  deliveries: number;
  /** Measure sessions past MAX_PARTICIPANTS by lifting the cap in the bench's own D1 row. */
  liftCap: boolean;
  /** Exit 1 when the device list's first page costs more CPU at the largest size than the budget allows. */
  strict: boolean;
  quick: boolean;
  outDir: string;
}

const FULL = {
  devices: [1_000, 10_000, 100_000],
  history: [10_000, 1_000_000],
  subscribers: [100, 300, 1_000, 5_000],
  sessions: [10, 30, 100],
};
const QUICK = { devices: [1_000, 10_000], history: [10_000, 100_000], subscribers: [100, 300], sessions: [10] };

export const USAGE = `Usage: npm run bench:scale -- [options]

  --quick                 a smoke run (~1 minute): ${QUICK.devices.join(',')} devices, ${QUICK.history.join(',')} history rows,
                          ${QUICK.subscribers.join(',')} subscribers, ${QUICK.sessions.join(',')} sessions, 2 s per point
  --curves LIST           comma-separated subset of ${CURVE_IDS.join(', ')} (default all)
  --devices LIST          devices in the organisation (default ${FULL.devices.join(',')}; 1k, 1M suffixes work)
  --history LIST          audit events and session messages (default ${FULL.history.join(',')}; at most 1M,
                          the enterprise plan's history retention)
  --subscribers LIST      subscribers per session (default ${FULL.subscribers.join(',')}; past 1,000 only with --lift-cap)
  --sessions LIST         sessions publishing at once (default ${FULL.sessions.join(',')})
  --session-subscribers N subscribers in each of those sessions (default 5)
  --duration S            seconds per measured HTTP point and sessions point (default 4; quick 2)
  --warmup S              seconds of unmeasured load before each HTTP point (default 1; quick 0.5)
  --connections N         HTTP connections, fewer for slow queries (default 16)
  --deliveries N          deliveries per subscribers point (default 100000; quick 20000)
  --lift-cap              measure sessions past MAX_PARTICIPANTS (1,000 sockets): the bench writes the larger
                          limit into its own D1 row, bypassing the CHECK; slow (a join costs O(sockets))
  --strict                exit 1 when the device list's first page grows more than 1.5× in CPU
  --out DIR               where scale.json, scale.md and the PNGs go (default bench/results)
  --help                  this text

Exit code: 0 it ran (with --strict: and the first page's cost did not grow), 1 it grew (--strict), 2 harness error.`;

/** 1000, 10k, 1M. */
function size(text: string, name: string, max: number): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  const value = match ? Number(match[1]) * (match[2]?.toLowerCase() === 'k' ? 1e3 : match[2]?.toLowerCase() === 'm' ? 1e6 : 1) : Number.NaN;
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new Error(`--${name}: ${JSON.stringify(text)} is not a whole number from 1 to ${max}`);
  return value;
}

function sizes(text: string | undefined, name: string, fallback: number[], max: number): number[] {
  if (text === undefined) return fallback;
  const list = [
    ...new Set(
      text
        .split(',')
        .filter(Boolean)
        .map((entry) => size(entry, name, max)),
    ),
  ].sort((a, b) => a - b);
  if (list.length === 0) throw new Error(`--${name} names no size`);
  return list;
}

function number(text: string | undefined, name: string, fallback: number, { min = 0, max = 1e9, integer = false } = {}): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function curves(text: string | undefined): CurveId[] {
  const named = (text ?? CURVE_IDS.join(','))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const curve of named) {
    if (!(CURVE_IDS as readonly string[]).includes(curve))
      throw new Error(`unknown curve ${JSON.stringify(curve)}; known: ${CURVE_IDS.join(', ')}`);
  }
  if (named.length === 0) throw new Error('--curves names no curve');
  return CURVE_IDS.filter((id) => named.includes(id));
}

/** Parses argv; undefined when --help was asked for. Throws on a bad option. */
export function parseScaleOptions(argv: string[], defaultOutDir: string): ScaleOptions | undefined {
  const text = { type: 'string' } as const;
  const flag = { type: 'boolean' } as const;
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: flag,
      curves: text,
      devices: text,
      history: text,
      subscribers: text,
      sessions: text,
      'session-subscribers': text,
      duration: text,
      warmup: text,
      connections: text,
      deliveries: text,
      'lift-cap': flag,
      strict: flag,
      out: text,
      help: flag,
    },
  });
  if (values.help) return undefined;
  const quick = values.quick ?? false;
  const base = quick ? QUICK : FULL;
  return {
    curves: curves(values.curves),
    devices: sizes(values.devices, 'devices', base.devices, 1_000_000),
    history: sizes(values.history, 'history', base.history, 1_000_000),
    subscribers: sizes(values.subscribers, 'subscribers', base.subscribers, 32_768),
    sessions: sizes(values.sessions, 'sessions', base.sessions, 1_000),
    subscribersPerSession: number(values['session-subscribers'], 'session-subscribers', 5, { min: 1, max: 999, integer: true }),
    duration: number(values.duration, 'duration', quick ? 2 : 4, { min: 0.5, max: 60 }),
    warmup: number(values.warmup, 'warmup', quick ? 0.5 : 1, { max: 60 }),
    connections: number(values.connections, 'connections', 16, { min: 1, max: 1000, integer: true }),
    deliveries: number(values.deliveries, 'deliveries', quick ? 20_000 : 100_000, { min: 1000, max: 10_000_000, integer: true }),
    liftCap: values['lift-cap'] ?? false,
    strict: values.strict ?? false,
    quick,
    outDir: values.out ?? defaultOutDir,
  };
}
