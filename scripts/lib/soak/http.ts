/**
 * Every HTTP attempt the soak makes goes through {@link Recorder.send}: its status, latency and, for
 * a 5xx, whether it was the problem the API promises under failure (503 / 504, problem+json,
 * `Retry-After`). {@link withRetries} repeats what the API says to repeat, with the same request
 * (so the same `Idempotency-Key`), after `Retry-After`, a bounded number of times.
 */
import { percentile } from '../bench/stats.ts';

/** What the typed client (openapi-fetch) returns; the soak needs the raw response besides the parsed body. */
export interface ApiResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** A request that got no HTTP answer (connection refused or reset, or the client's timeout). */
export const NO_ANSWER = 0;

/** A 5xx, as the report lists it. */
export interface ServerError {
  route: string;
  status: number;
  code: string | undefined;
  requestId: string | undefined;
  /** 503 / 504, application/problem+json, with a Retry-After: what the API promises for a failing dependency. */
  promised: boolean;
  at: string;
}

const PROBLEM_TYPE = 'application/problem+json';
const MAX_LISTED_ERRORS = 50;
/** Longer than the Worker's own 8 s request deadline: a request that takes this long got no answer. */
export const CLIENT_TIMEOUT_MS = 15_000;

export interface RouteFigures {
  requests: number;
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

export class Recorder {
  private readonly latencies = new Map<string, number[]>();
  private readonly statuses = new Map<string, Map<number, number>>();
  readonly serverErrors: ServerError[] = [];
  serverErrorCount = 0;
  unpromisedServerErrors = 0;
  internalErrors = 0;

  /** Runs one attempt, timing it; a thrown fetch is recorded as {@link NO_ANSWER}. */
  async send<T>(route: string, call: (signal: AbortSignal) => Promise<ApiResult<T>>): Promise<ApiResult<T> | undefined> {
    const started = performance.now();
    let result: ApiResult<T> | undefined;
    try {
      result = await call(AbortSignal.timeout(CLIENT_TIMEOUT_MS));
    } catch {
      result = undefined;
    }
    this.record(route, result?.response, performance.now() - started, result?.error);
    return result;
  }

  private record(route: string, response: Response | undefined, ms: number, error: unknown): void {
    const status = response?.status ?? NO_ANSWER;
    let latencies = this.latencies.get(route);
    if (latencies === undefined) {
      latencies = [];
      this.latencies.set(route, latencies);
    }
    latencies.push(ms);
    let byStatus = this.statuses.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.statuses.set(route, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    if (response === undefined || status < 500) return;
    const promised =
      (status === 503 || status === 504) &&
      (response.headers.get('content-type') ?? '').startsWith(PROBLEM_TYPE) &&
      /^\d+$/.test(response.headers.get('retry-after') ?? '');
    this.serverErrorCount += 1;
    if (!promised) this.unpromisedServerErrors += 1;
    if (status === 500) this.internalErrors += 1;
    // Every unpromised one is listed (each is a finding); promised ones only up to the cap.
    if (!promised || this.serverErrors.length < MAX_LISTED_ERRORS) {
      this.serverErrors.push({
        route,
        status,
        code: problemCode(error),
        requestId: response.headers.get('x-request-id') ?? undefined,
        promised,
        at: new Date().toISOString(),
      });
    }
  }

  /** Requests and status counts per route and overall; latency percentiles over every attempt. */
  figures(): { total: RouteFigures; routes: Record<string, RouteFigures> } {
    const routes: Record<string, RouteFigures> = {};
    const all: number[] = [];
    const allStatuses: Record<string, number> = {};
    for (const [route, latencies] of [...this.latencies].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = [...latencies].sort((a, b) => a - b);
      all.push(...sorted);
      const statuses: Record<string, number> = {};
      for (const [status, count] of [...(this.statuses.get(route) ?? [])].sort(([a], [b]) => a - b)) {
        statuses[String(status)] = count;
        allStatuses[String(status)] = (allStatuses[String(status)] ?? 0) + count;
      }
      routes[route] = { requests: sorted.length, statuses, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
    }
    all.sort((a, b) => a - b);
    const sortedStatuses = Object.fromEntries(Object.entries(allStatuses).sort(([a], [b]) => Number(a) - Number(b)));
    return { total: { requests: all.length, statuses: sortedStatuses, p50Ms: percentile(all, 0.5), p99Ms: percentile(all, 0.99) }, routes };
  }
}

export function problemCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Attempts of one logical request, the first included. */
const MAX_ATTEMPTS = 8;
/** Waits are Retry-After, but at least this, at most {@link MAX_WAIT_MS}, plus up to {@link JITTER_MS}. */
const MIN_WAIT_MS = 200;
const MAX_WAIT_MS = 5_000;
const JITTER_MS = 250;

export type Outcome<T> =
  /** The API answered something other than "try again"; `ambiguous` when an earlier attempt may have had an effect (a 5xx or no answer). */
  | { kind: 'answered'; result: ApiResult<T>; attempts: number; ambiguous: boolean }
  /** Every attempt was told to try again (or got no answer). */
  | { kind: 'gave-up'; lastStatus: number; attempts: number };

/** Whether the API asks for the same request again: a dependency failing, a rate limit, or the same key still in flight. */
function worthRepeating(result: ApiResult<unknown> | undefined): boolean {
  if (result === undefined) return true;
  const { status } = result.response;
  if (status === 503 || status === 504 || status === 429) return true;
  return status === 409 && problemCode(result.error) === 'idempotency_key_in_use';
}

/** Whether a failed attempt may have made its change anyway (the API says so of 5xx and of no answer). */
function mayHaveTakenEffect(result: ApiResult<unknown> | undefined): boolean {
  return result === undefined || result.response.status >= 500;
}

export const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

function waitFor(result: ApiResult<unknown> | undefined): number {
  const retryAfter = Number(result?.response.headers.get('retry-after') ?? '0');
  const base = Number.isFinite(retryAfter) ? retryAfter * 1000 : 0;
  return Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, base)) + Math.random() * JITTER_MS;
}

/** Repeats `call` (the same request each time) while the API asks for it, at most {@link MAX_ATTEMPTS} times. */
export async function withRetries<T>(
  recorder: Recorder,
  route: string,
  call: (signal: AbortSignal) => Promise<ApiResult<T>>,
): Promise<Outcome<T>> {
  let ambiguous = false;
  let last: ApiResult<T> | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    last = await recorder.send(route, call);
    if (!worthRepeating(last) && last !== undefined) return { kind: 'answered', result: last, attempts: attempt, ambiguous };
    ambiguous ||= mayHaveTakenEffect(last);
    if (attempt < MAX_ATTEMPTS) await sleep(waitFor(last));
  }
  return { kind: 'gave-up', lastStatus: last?.response.status ?? NO_ANSWER, attempts: MAX_ATTEMPTS };
}
