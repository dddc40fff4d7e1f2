/**
 * One HTTP load run with autocannon (programmatic API, in this process). Latency percentiles are
 * computed from every response time autocannon reports (sub-millisecond), not from its
 * whole-millisecond histogram.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { percentile } from './stats.ts';

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
  onResponse?: (status: number, body: string) => void;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; sent: number };
  statusCodeStats: Record<string, { count: number }>;
}

interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void): void;
  on(event: 'reqError', listener: (error: Error) => void): void;
  stop(): void;
}

type Autocannon = (
  options: {
    url: string;
    connections: number;
    duration: number;
    sampleInt: number;
    timeout: number;
    requests: AutocannonRequest[];
  },
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

// CommonJS without type declarations: the few fields used are typed above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface HttpRequestSpec {
  method: 'GET' | 'POST';
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Sends a fresh `Idempotency-Key` with every request. */
  freshIdempotencyKey?: boolean;
  /** The only status a successful response may have. */
  expectStatus: number;
}

export interface HttpRunResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses with another status than expected, connection errors and timeouts. */
  failures: number;
  failureSamples: string[];
}

const FAILURE_SAMPLES = 5;
let current: AutocannonInstance | undefined;

/** Stops a run in progress (on SIGINT). */
export function stopHttpLoad(): void {
  current?.stop();
}

export function runHttpLoad(
  baseUrl: URL,
  spec: HttpRequestSpec,
  options: { connections: number; durationS: number },
): Promise<HttpRunResult> {
  const latencies: number[] = [];
  const failureSamples: string[] = [];
  let unexpected = 0;
  const request: AutocannonRequest = {
    method: spec.method,
    path: spec.path,
    headers: spec.headers,
    onResponse: (status, body) => {
      if (status === spec.expectStatus) return;
      unexpected += 1;
      if (failureSamples.length < FAILURE_SAMPLES) failureSamples.push(`${status} ${body.slice(0, 600)}`);
    },
  };
  if (spec.body !== undefined) request.body = spec.body;
  if (spec.freshIdempotencyKey) {
    request.setupRequest = (built) => ({ ...built, headers: { ...spec.headers, 'idempotency-key': randomUUID() } });
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: baseUrl.origin,
        connections: options.connections,
        duration: options.durationS,
        // autocannon notices the end of the duration at its next sample tick: tick often.
        sampleInt: 100,
        timeout: 10,
        requests: [request],
      },
      (error, result) => {
        current = undefined;
        if (error) {
          reject(error);
          return;
        }
        const requests = result.requests.total;
        latencies.sort((a, b) => a - b);
        resolve({
          requests,
          durationS: result.duration,
          rps: requests / result.duration,
          p50Ms: percentile(latencies, 0.5),
          p99Ms: percentile(latencies, 0.99),
          failures: unexpected + result.errors,
          failureSamples,
        });
      },
    );
    current = instance;
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      latencies.push(responseTimeMs);
    });
    instance.on('reqError', (error) => {
      if (failureSamples.length < FAILURE_SAMPLES) failureSamples.push(`request error: ${error.message}`);
    });
  });
}
