/**
 * Command-line options of `npm run bench`.
 */
import { parseArgs } from 'node:util';

export const SCENARIO_IDS = ['health', 'device-read', 'device-list', 'device-create', 'fan-out'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export interface BenchOptions {
  rounds: number;
  /** Seconds per measured run. */
  duration: number;
  /** Seconds of unmeasured load per target and scenario before the first round. */
  warmup: number;
  /** autocannon connections. */
  connections: number;
  /** WebSocket subscribers in the fan-out scenario. */
  subscribers: number;
  /** Fan-out messages in flight (sent, not yet received by the designated subscriber). */
  window: number;
  scenarios: ScenarioId[];
  /** The fan-out subscribers' client: a minimal frame counter, or Node's global WebSocket. */
  wsClient: 'raw' | 'global';
  /** Where latest.json and latest.md go. */
  outDir: string;
}

export const USAGE = `Usage: npm run bench -- [options]

  --rounds N         measured rounds, alternating which side runs first (default 5)
  --duration S       seconds per measured run (default 5)
  --warmup S         seconds of unmeasured load per target before round 1 (default 2)
  --connections N    HTTP connections (default 50)
  --subscribers N    WebSocket subscribers in the fan-out scenario (default 100)
  --window N         fan-out messages in flight (default 100)
  --ws-client KIND   fan-out subscribers: raw (a minimal frame counter, default) or global
                     (Node's WebSocket, ~40 µs of client CPU per frame: the client becomes the bottleneck)
  --scenarios LIST   comma-separated subset of ${SCENARIO_IDS.join(', ')} (default all)
  --out DIR          where latest.json and latest.md are written (default bench/results)
  --help             this text

Exit code: 0 every budget passes, 1 a budget fails (the report is still written), 2 harness error.`;

function numberOption(
  name: string,
  text: string | undefined,
  fallback: number,
  { integer = true, max = Number.MAX_SAFE_INTEGER, zero = false } = {},
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero) || value > max || (integer && !Number.isInteger(value))) {
    const kind = `${zero ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}`;
    throw new Error(`--${name} must be a ${kind} of at most ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Parses argv; returns undefined when --help was asked for. Throws on a bad option. */
export function parseOptions(argv: string[], defaultOutDir: string): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      subscribers: { type: 'string' },
      window: { type: 'string' },
      scenarios: { type: 'string' },
      'ws-client': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  const scenarios = (values.scenarios ?? SCENARIO_IDS.join(','))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const scenario of scenarios) {
    if (!(SCENARIO_IDS as readonly string[]).includes(scenario)) {
      throw new Error(`unknown scenario ${JSON.stringify(scenario)}; known: ${SCENARIO_IDS.join(', ')}`);
    }
  }
  if (scenarios.length === 0) throw new Error('--scenarios names no scenario');
  const wsClient = values['ws-client'] ?? 'raw';
  if (wsClient !== 'raw' && wsClient !== 'global') throw new Error(`--ws-client must be raw or global, got ${JSON.stringify(wsClient)}`);
  return {
    rounds: numberOption('rounds', values.rounds, 5, { max: 50 }),
    duration: numberOption('duration', values.duration, 5, { integer: false, max: 60 }),
    warmup: numberOption('warmup', values.warmup, 2, { integer: false, max: 60, zero: true }),
    connections: numberOption('connections', values.connections, 50, { max: 1000 }),
    subscribers: numberOption('subscribers', values.subscribers, 100, { max: 999 }),
    window: numberOption('window', values.window, 100, { max: 100_000 }),
    scenarios: SCENARIO_IDS.filter((id) => scenarios.includes(id)),
    wsClient,
    outDir: values.out ?? defaultOutDir,
  };
}
