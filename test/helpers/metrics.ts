/**
 * What the Worker writes to Analytics Engine. The local binding is the real one, and it keeps
 * nothing (only Cloudflare's store and SQL API could read points back, and they cannot run here), so
 * the tests record each `writeDataPoint` call on the binding itself and read the points from that.
 */
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import { METRIC_COLUMNS, type MetricKind } from '../../src/lib/metrics.ts';

/** A point as the queries see it: by column name (METRIC_COLUMNS), plus the index. */
export type WrittenPoint = { index1: string } & {
  -readonly [Name in keyof typeof METRIC_COLUMNS]: (typeof METRIC_COLUMNS)[Name] extends `blob${number}` ? string : number;
};

function readPoint(point: AnalyticsEngineDataPoint): WrittenPoint {
  const row: Record<string, unknown> = { index1: point.indexes?.[0] };
  for (const [name, column] of Object.entries(METRIC_COLUMNS)) {
    const position = Number(column.replace(/^\D+/, '')) - 1;
    row[name] = column.startsWith('blob') ? point.blobs?.[position] : point.doubles?.[position];
  }
  return row as WrittenPoint;
}

/** Starts recording; `points(kind?)` reads what was written since. Restored by vi.restoreAllMocks(). */
export function captureMetrics() {
  const spy = vi.spyOn(env.METRICS, 'writeDataPoint');
  return {
    points(kind?: MetricKind): WrittenPoint[] {
      const all = spy.mock.calls.map(([point]) => readPoint(point ?? {}));
      return kind === undefined ? all : all.filter((point) => point.kind === kind);
    },
  };
}
