/**
 * Command-line options of `npm run soak`.
 */
import { parseArgs } from 'node:util';

export const TARGETS = ['plain', 'chaos'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface SoakOptions {
  targets: TargetName[];
  /** Seconds of load per target, warm-up included. */
  duration: number;
  /** The share of D1 and Durable Object calls the chaos build fails. */
  faultRate: number;
  /** The chaos build's PRNG seed; random (and reported) when not given. */
  seed: number | undefined;
  subscribers: number;
  /** Sessions the subscribers are spread over, one publisher each. */
  sessions: number;
  /** Concurrent clients driving the device and session workload. */
  clients: number;
  smoke: boolean;
  outDir: string;
}

/**
 * Both targets within 5 minutes on the 2-core machines: besides its load, each run spends ~45 s
 * starting wrangler, minting 200 tokens, connecting, finishing retries in flight, draining and
 * verifying (measured: 340 s in all at 120 s each).
 */
const DEFAULT_DURATION_S = 90;
const SMOKE_DURATION_S = 20;
const SMOKE_SUBSCRIBERS = 40;

export const USAGE = `Usage: npm run soak -- [options]

  --target T         plain, chaos or both (default both)
  --duration S       seconds of load per target, warm-up included (default ${DEFAULT_DURATION_S}; ${SMOKE_DURATION_S} with --smoke)
  --fault-rate R     share of D1 and Durable Object calls the chaos build fails, 0–1 (default 0.05)
  --seed N           the chaos build's fault schedule seed (default random, reported)
  --subscribers N    WebSocket subscribers (default 200; ${SMOKE_SUBSCRIBERS} with --smoke)
  --sessions N       sessions they are spread over, one publisher each (default 4)
  --clients N        concurrent device/session clients (default 4)
  --smoke            a short run for CI: ${SMOKE_DURATION_S} s per target, ${SMOKE_SUBSCRIBERS} subscribers
  --out DIR          where latest.json and latest.md are written (default soak/results)
  --help             this text

Exit code: 0 every check passes, 1 a check fails (the report is still written), 2 harness error.`;

function numberOption(name: string, text: string | undefined, fallback: number, { integer = true, min = 1, max = 1_000_000 } = {}): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Parses argv; returns undefined when --help was asked for. Throws on a bad option. */
export function parseOptions(argv: string[], defaultOutDir: string): SoakOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: 'string' },
      duration: { type: 'string' },
      'fault-rate': { type: 'string' },
      seed: { type: 'string' },
      subscribers: { type: 'string' },
      sessions: { type: 'string' },
      clients: { type: 'string' },
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  const target = values.target ?? 'both';
  if (target !== 'both' && !(TARGETS as readonly string[]).includes(target)) {
    throw new Error(`--target must be plain, chaos or both, got ${JSON.stringify(target)}`);
  }
  const smoke = values.smoke ?? false;
  const sessions = numberOption('sessions', values.sessions, 4, { max: 50 });
  const subscribers = numberOption('subscribers', values.subscribers, smoke ? SMOKE_SUBSCRIBERS : 200, { max: 2000 });
  if (subscribers < sessions) throw new Error(`--subscribers (${subscribers}) must be at least --sessions (${sessions})`);
  return {
    targets: target === 'both' ? [...TARGETS] : [target as TargetName],
    duration: numberOption('duration', values.duration, smoke ? SMOKE_DURATION_S : DEFAULT_DURATION_S, {
      integer: false,
      min: 5,
      max: 3600,
    }),
    faultRate: numberOption('fault-rate', values['fault-rate'], 0.05, { integer: false, min: 0, max: 1 }),
    seed: values.seed === undefined ? undefined : numberOption('seed', values.seed, 0, { min: 0, max: 2 ** 32 - 1 }),
    subscribers,
    sessions,
    clients: numberOption('clients', values.clients, 4, { max: 64 }),
    smoke,
    outDir: values.out ?? defaultOutDir,
  };
}
