/**
 * @module
 * What the chaos build injects and how often: each call to a wrapped binding rolls once against the
 * fault rate and, when it loses, gets one fault drawn uniformly from those its dependency has. The
 * dice are a seeded PRNG, so one isolate given the same seed and the same calls in the same order
 * injects the same faults (concurrent requests interleave differently from run to run).
 */
import type { Logger } from '../lib/logger.ts';

/** The variable naming the share of calls that fail (0–1); only this build reads it (scripts/check-bundle.ts looks for it). */
export const FAULT_RATE_VARIABLE = 'CHAOS_FAULT_RATE';
export const SEED_VARIABLE = 'CHAOS_SEED';

/**
 * How long a hung call takes before it fails: past every deadline the Worker sets (D1 1–2 s, a room
 * 2 s, a lease 0.5 s), yet finite, so an abandoned call never keeps a promise alive in the isolate.
 */
export const HANG_MS = 3_000;

export type Dependency = 'D1' | 'RateLimiter' | 'SessionRoom';

export interface Chaos {
  /** Whether this call fails. */
  strikes(): boolean;
  /** One of `choices`, uniformly. */
  pick<T>(choices: readonly T[]): T;
  /** Records an injected fault: one warn line each (what the soak counts; `wrangler dev` hides the Worker's info lines at its default level). */
  injected(dependency: Dependency, fault: string, detail?: string): void;
}

/** mulberry32: a 32-bit state is all a fault schedule needs, and it is one line to reproduce elsewhere. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface ChaosSettings {
  faultRate: number;
  seed: number;
}

/** Reads the chaos variables; an unusable value is an error, not a silent default: a soak must know what it ran. */
export function chaosSettings(env: { [FAULT_RATE_VARIABLE]?: string; [SEED_VARIABLE]?: string }): ChaosSettings {
  const rateText = env[FAULT_RATE_VARIABLE];
  const faultRate = Number(rateText ?? '0');
  if (!Number.isFinite(faultRate) || faultRate < 0 || faultRate > 1) {
    throw new Error(`${FAULT_RATE_VARIABLE} must be a number from 0 to 1, got ${JSON.stringify(rateText)}`);
  }
  const seedText = env[SEED_VARIABLE];
  const seed = seedText === undefined || seedText === '' ? crypto.getRandomValues(new Uint32Array(1))[0] : Number(seedText);
  if (seed === undefined || !Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`${SEED_VARIABLE} must be a non-negative integer, got ${JSON.stringify(seedText)}`);
  }
  return { faultRate, seed };
}

export function createChaos(settings: ChaosSettings, logger: Logger): Chaos {
  const random = seededRandom(settings.seed);
  return {
    strikes: () => random() < settings.faultRate,
    pick: <T>(choices: readonly T[]): T => choices[Math.floor(random() * choices.length)] as T,
    injected: (dependency, fault, detail) => logger.warn('chaos: injected a fault', { dependency, fault, ...(detail ? { detail } : {}) }),
  };
}

export const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));
