/**
 * @module
 * Bounding how long we wait on a dependency, retrying what is safe to repeat, and failing fast
 * while a dependency is down. Written here rather than taken from `cockatiel` (measured in the
 * issue 12 note: it runs on workerd, but has no total-time budget, queues half-open callers instead
 * of failing them fast, and costs 4–7× more CPU per call); what a Worker needs is this small.
 */
import { setBounded } from './bounded-map.ts';
import { recordEvent, type Telemetry } from './metrics.ts';

export class TimeoutError extends Error {
  constructor(label: string, milliseconds: number) {
    super(`${label} did not answer within ${milliseconds} ms`);
    this.name = 'TimeoutError';
  }
}

/** Thrown without calling the dependency while its circuit is open. */
export class CircuitOpenError extends Error {
  readonly retryAfterMs: number;

  constructor(label: string, retryAfterMs: number) {
    super(`${label}: circuit open, retry in ${retryAfterMs} ms`);
    this.name = 'CircuitOpenError';
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Settles like `work`, or rejects with {@link TimeoutError} after `milliseconds`. The work itself is
 * not cancelled (D1 has no cancellation); its late result is ignored.
 */
export async function withTimeout<T>(work: Promise<T>, milliseconds: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(label, milliseconds)), milliseconds);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreaker {
  readonly label: string;
  state(now?: number): CircuitState;
  /** Throws {@link CircuitOpenError} when the call may not go out; else the call is admitted. */
  admit(now?: number): void;
  succeeded(): void;
  failed(now?: number): void;
}

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long it stays open before one probe is let through. */
  openMs: number;
  /** Called once per transition (not per call), to log it. */
  onStateChange?: (label: string, from: CircuitState, to: CircuitState) => void;
}

/**
 * Closed → open after `failureThreshold` consecutive failures; open → half-open after `openMs`,
 * when exactly one probe goes out and every other caller fails fast; the probe's success closes
 * it, its failure opens it again. State lives in the isolate that makes the calls: an isolate
 * sees its own calls fail at once, needs no round trip to learn it (a shared breaker would need a
 * Durable Object, the kind of dependency it guards), and a fresh isolate probes for itself.
 */
export function createBreaker(label: string, options: BreakerOptions): CircuitBreaker {
  let current: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let probing = false;
  const move = (to: CircuitState) => {
    if (to === current) return;
    const from = current;
    current = to;
    options.onStateChange?.(label, from, to);
  };
  const state = (now = Date.now()): CircuitState => (current === 'open' && now - openedAt >= options.openMs ? 'half-open' : current);
  return {
    label,
    state,
    admit(now = Date.now()) {
      const seen = state(now);
      if (seen === 'closed') return;
      if (seen === 'half-open' && !probing) {
        move('half-open');
        probing = true;
        return;
      }
      throw new CircuitOpenError(label, Math.max(1, options.openMs - (now - openedAt)));
    },
    succeeded() {
      failures = 0;
      probing = false;
      move('closed');
    },
    failed(now = Date.now()) {
      failures += 1;
      if (probing || failures >= options.failureThreshold) {
        probing = false;
        openedAt = now;
        move('open');
      }
    },
  };
}

const breakersByBinding = new WeakMap<object, Map<string, CircuitBreaker>>();
const MAX_BREAKERS_PER_BINDING = 10_000;

function logTransition(label: string, from: CircuitState, to: CircuitState): void {
  console.warn(JSON.stringify({ level: 'warn', message: 'circuit state changed', dependency: label, from, to }));
}

/**
 * The `label` breaker of a binding object: per isolate in production (an isolate's bindings are),
 * and a binding a test wraps in faults gets its own. Transitions go to the console, once each: the
 * breaker outlives every request, so no request's logger owns them.
 */
export function breakerFor(binding: object, label: string, options: Omit<BreakerOptions, 'onStateChange'>): CircuitBreaker {
  let byLabel = breakersByBinding.get(binding);
  if (byLabel === undefined) {
    byLabel = new Map();
    breakersByBinding.set(binding, byLabel);
  }
  let breaker = byLabel.get(label);
  if (breaker === undefined) {
    breaker = createBreaker(label, { ...options, onStateChange: logTransition });
    // One per room can mean many labels: the oldest is dropped, and its room starts closed again.
    setBounded(byLabel, label, breaker, MAX_BREAKERS_PER_BINDING);
  }
  return breaker;
}

/** How many of a binding's breakers are in each state now (for `/ready`): one per room means many. */
export function breakerStates(binding: object, now = Date.now()): Record<CircuitState, number> {
  const counts: Record<CircuitState, number> = { closed: 0, open: 0, 'half-open': 0 };
  for (const breaker of breakersByBinding.get(binding)?.values() ?? []) counts[breaker.state(now)] += 1;
  return counts;
}

/**
 * A Durable Object error the runtime marks as worth repeating on a fresh stub (`.retryable`); never
 * an overloaded object's (`.overloaded`): repeating adds load.
 */
export function isRetryableObjectError(error: unknown): boolean {
  const flags = error as { retryable?: unknown; overloaded?: unknown };
  return error instanceof Error && flags.retryable === true && flags.overloaded !== true;
}

export interface RetryPolicy {
  /** Calls in all, the first included; 1 means no retry. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Full jitter: uniform in [0, min(max, base · 2^(retry − 1))) (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1)));
}

export interface GuardOptions {
  label: string;
  /** The longest one attempt may take. */
  timeoutMs: number;
  /** The longest all attempts and the waits between them may take; the last attempt gets what is left. */
  budgetMs: number;
  retry: RetryPolicy;
  /** Whether a failure is worth repeating. A timeout always is. */
  isTransient: (error: unknown) => boolean;
  /** Whether a failure says the dependency is not answering (counted by the breaker); a transient one always does. */
  isFailure?: (error: unknown) => boolean;
  breaker: CircuitBreaker;
  /** `Date.now()` past which no attempt may wait (the request's deadline); none when absent. */
  deadlineAt?: number;
  random?: () => number;
  /** Where the call's retries, timeouts and breaker transitions are counted (lib/metrics.ts). */
  telemetry?: Telemetry;
  /** The dependency's name in those metrics, one per kind (`SessionRoom`, not one per room); the label when absent. */
  dependency?: string;
}

/**
 * Runs one step of a breaker (admit, succeeded, failed) and counts the transition it made, if any:
 * the `breaker` metric, named by the state moved to. Open → half-open happens with time, unseen;
 * what is counted is what changes callers' answers: opening, and closing again.
 */
export function stepBreaker(breaker: CircuitBreaker, telemetry: Telemetry | undefined, dependency: string, step: () => void): void {
  const before = breaker.state();
  try {
    step();
  } finally {
    const after = breaker.state();
    if (after !== before) recordEvent(telemetry, { kind: 'breaker', name: dependency, detail: after });
  }
}

/**
 * Runs `call` under the breaker, a per-attempt timeout and the total budget, repeating it after a
 * transient failure or a timeout while attempts and budget remain. Only safe-to-repeat calls may
 * be given more than one attempt. Any other failure is rethrown at once; unless `isFailure` says
 * otherwise (an overloaded dependency) it does not count against the breaker: the dependency answered.
 */
export async function guardedCall<T>(call: () => Promise<T>, options: GuardOptions): Promise<T> {
  const started = Date.now();
  const endsAt = Math.min(started + options.budgetMs, options.deadlineAt ?? Number.POSITIVE_INFINITY);
  const { breaker, telemetry } = options;
  const dependency = options.dependency ?? options.label;
  const step = (move: () => void) => stepBreaker(breaker, telemetry, dependency, move);
  for (let attempt = 1; ; attempt += 1) {
    const left = endsAt - Date.now();
    // Out of the request's time before asking: not the dependency's failure, so the breaker is not told.
    if (left <= 0) throw new TimeoutError(options.label, 0);
    step(() => breaker.admit());
    const timeoutMs = Math.min(options.timeoutMs, left);
    try {
      const result = await withTimeout(call(), timeoutMs, options.label);
      step(() => breaker.succeeded());
      return result;
    } catch (error) {
      const timedOut = error instanceof TimeoutError;
      if (timedOut) recordEvent(telemetry, { kind: 'timeout', name: dependency, durationMs: timeoutMs });
      const transient = timedOut || options.isTransient(error);
      if (!transient && !options.isFailure?.(error)) {
        step(() => breaker.succeeded());
        throw error;
      }
      step(() => breaker.failed());
      if (!transient) throw error;
      const delay = backoffDelay(options.retry, attempt, options.random);
      if (attempt >= options.retry.attempts || Date.now() + delay >= endsAt) throw error;
      recordEvent(telemetry, { kind: 'retry', name: dependency, detail: timedOut ? 'timeout' : errorName(error), value: attempt + 1 });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
