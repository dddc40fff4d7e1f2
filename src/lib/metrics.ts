/**
 * @module
 * Metrics into Workers Analytics Engine: one data point per request and one per operational event
 * (a breaker's transition, a retry, a timeout, a security event, a WebSocket opening or closing, a
 * webhook attempt). `writeDataPoint` queues the point and returns; nothing here is awaited, and a
 * failure to write never fails the work it describes.
 *
 * Every point has the same columns, whatever its kind, so one query shape serves all of them:
 * {@link METRIC_COLUMNS} is the layout docs/observability.md's queries are written against (a test
 * checks that they name only these). The index is the organisation (or `-`): Analytics Engine
 * samples per index, so a busy organisation never crowds out a quiet one's points.
 */

export const METRIC_KINDS = ['request', 'security', 'breaker', 'retry', 'timeout', 'websocket', 'webhook_attempt'] as const;
export type MetricKind = (typeof METRIC_KINDS)[number];

/** What a point says. Strings the kind does not use are written empty, numbers 0. */
export interface MetricPoint {
  kind: MetricKind;
  /**
   * What it is about: the route template (request), the event (security), the dependency
   * (breaker, retry, timeout), `connect` / `disconnect` (websocket), the outcome (webhook_attempt).
   */
  name: string;
  /**
   * More about it: the method (request), the reason (security), the state moved to (breaker), the
   * error (retry), the close code's meaning (websocket), the endpoint (webhook_attempt).
   */
  detail?: string;
  orgId?: string;
  keyId?: string;
  requestId?: string;
  /** request: `hit` or `miss` when an API key was looked up in the isolate's cache. */
  cache?: 'hit' | 'miss';
  /** request: `missing`, `empty` or `malformed` when the User-Agent is not a usable one. */
  userAgentState?: string;
  /** request: the problem's code when the answer was one. */
  errorCode?: string;
  /** The status (request, webhook attempt), the close code (websocket), the attempt number (retry). */
  value?: number;
  durationMs?: number;
  /** request: time spent waiting on D1, and the queries made. */
  d1Ms?: number;
  d1Queries?: number;
}

/**
 * Column of each field, for the queries. Analytics Engine names columns by position (`blob1`…,
 * `double1`…), so positions never move: a new field takes the next free one.
 */
export const METRIC_COLUMNS = {
  kind: 'blob1',
  name: 'blob2',
  detail: 'blob3',
  org_id: 'blob4',
  key_id: 'blob5',
  request_id: 'blob6',
  cache: 'blob7',
  user_agent_state: 'blob8',
  error_code: 'blob9',
  value: 'double1',
  duration_ms: 'double2',
  d1_ms: 'double3',
  d1_queries: 'double4',
} as const;

/** Analytics Engine's limit on the index; ids are far shorter, but a point must never be refused for it. */
const MAX_INDEX_BYTES = 96;
/** A blob is cut here: route templates and reasons are short, and a client-chosen string must not grow a point. */
const MAX_BLOB_LENGTH = 256;
const NO_ORGANIZATION = '-';

function blob(value: string | undefined): string {
  return value === undefined ? '' : value.slice(0, MAX_BLOB_LENGTH);
}

/** The data point of `point`, in the column order of {@link METRIC_COLUMNS}. */
function toDataPoint(point: MetricPoint): AnalyticsEngineDataPoint {
  return {
    indexes: [(point.orgId ?? NO_ORGANIZATION).slice(0, MAX_INDEX_BYTES)],
    blobs: [
      point.kind,
      blob(point.name),
      blob(point.detail),
      blob(point.orgId),
      blob(point.keyId),
      blob(point.requestId),
      point.cache ?? '',
      blob(point.userAgentState),
      blob(point.errorCode),
    ],
    doubles: [point.value ?? 0, point.durationMs ?? 0, point.d1Ms ?? 0, point.d1Queries ?? 0],
  };
}

/**
 * Writes one point, never throwing: a dataset that is missing (an environment without the binding)
 * or refuses the point loses the point, not the request.
 */
function writeMetric(dataset: AnalyticsEngineDataset | undefined, point: MetricPoint): void {
  if (dataset === undefined) return;
  try {
    dataset.writeDataPoint(toDataPoint(point));
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'could not write a metric', kind: point.kind, error: String(error) }));
  }
}

/** What one request's data point adds up while it runs. */
export interface RequestMeter {
  d1Ms: number;
  d1Queries: number;
  cache?: 'hit' | 'miss';
}

/** Where the events of one unit of work (a request, a room's socket, a delivery) are written, and what they share. */
export interface Telemetry {
  dataset: AnalyticsEngineDataset | undefined;
  requestId?: string;
  orgId?: string;
  keyId?: string;
}

/** Writes an event of `telemetry`'s unit of work: its request, organisation and key are filled in. */
export function recordEvent(telemetry: Telemetry | undefined, point: Omit<MetricPoint, 'requestId' | 'orgId' | 'keyId'>): void {
  if (telemetry === undefined) return;
  writeMetric(telemetry.dataset, {
    requestId: telemetry.requestId,
    orgId: telemetry.orgId,
    keyId: telemetry.keyId,
    ...point,
  });
}
