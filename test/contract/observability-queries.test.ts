/**
 * The named Analytics Engine queries of docs/observability.md and docs/operations.md (the ones
 * `npm run metrics` runs, read by the same extractor, scripts/lib/metric-queries.ts) hold to the
 * metrics layout: each parses with a real SQL parser, reads switchyard_metrics only, names only
 * columns of METRIC_COLUMNS (or `timestamp`, `index1`, `_sample_interval`, or its own aliases),
 * compares `blob1` only with a kind of METRIC_KINDS, counts with `_sample_interval` (sampling), and
 * has the one window restriction `--since` rewrites. Every metric the observability issue lists has
 * its query. The last block runs the same checks on broken queries, so a check that stopped
 * catching anything would fail too.
 *
 * The parser is node-sql-parser's MySQL grammar, its most tolerant for these queries: it takes the
 * ClickHouse-style constructs Analytics Engine uses (`quantileWeighted(…)`, `sumIf(…)`,
 * `NOW() - INTERVAL '1' HOUR`, `HAVING` on an alias) as they are, so nothing is preprocessed.
 * Whether Cloudflare's SQL API accepts each function is not something a parser can tell: that is
 * what `npm run metrics` against a real account shows.
 */
import sqlParser from 'node-sql-parser/build/mysql';
import { describe, expect, it } from 'vitest';
import observability from '../../docs/observability.md?raw';
import operations from '../../docs/operations.md?raw';
import { DOCUMENTED_DATASET, type DocumentedQuery, extractAll, WINDOW_TEXT } from '../../scripts/lib/metric-queries.ts';
import { METRIC_COLUMNS, METRIC_KINDS } from '../../src/lib/metrics.ts';
import { SECURITY_EVENT_TYPES } from '../../src/lib/security-events.ts';

const parser = new sqlParser.Parser();
const PARSE_OPTIONS = { database: 'mysql' };

/** Columns every Analytics Engine dataset has besides the layout's. */
const BUILT_IN_COLUMNS = ['timestamp', 'index1', '_sample_interval'];
const LAYOUT_COLUMNS = new Set<string>([...BUILT_IN_COLUMNS, ...Object.values(METRIC_COLUMNS)]);
const KINDS = new Set<string>(METRIC_KINDS);

/** One query per metric the observability issue lists (and the SLO and alert queries of operations.md). */
const REQUIRED_QUERIES = [
  // p50/p95/p99 latency per endpoint
  'latency-by-route',
  // D1 query duration
  'd1-time-by-route',
  // WebSocket connection count: connects, disconnects, net; peak per room; by close code
  'websocket-connections',
  'websocket-peak-room-size',
  'websocket-disconnects-by-close-code',
  // rate-limit hit rate (429s / all requests)
  'rate-limit-hit-rate',
  // error rate by endpoint
  'error-rate-by-route',
  // timeout rate: 504s per route, timeout events per dependency
  'timeout-rate-by-route',
  'timeouts-by-dependency',
  // circuit breaker activations
  'breaker-opens-by-dependency',
  // retry attempts
  'retries-by-dependency',
  // failed authentications by reason
  'auth-failures-by-reason',
  // rate-limit violations by policy
  'rate-limit-violations-by-policy',
  // invalid User-Agents
  'invalid-user-agents',
  // CORS violations
  'cors-violations-by-reason',
  // webhook attempts by outcome and latency
  'webhook-attempts-by-outcome',
  // operations.md: the SLOs and their burn-rate alerts
  'slo-availability-30d',
  'slo-latency-30d',
  'slo-websocket-30d',
  'availability-burn-rate',
  'availability-burn-rate-3d',
  'latency-reads-burn-rate',
  'latency-writes-burn-rate',
  'latency-connect-burn-rate',
  'websocket-burn-rate',
];

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null;
}

/** Every object in the tree, depth first. */
function* nodes(value: unknown): Generator<Node> {
  if (Array.isArray(value)) {
    for (const item of value) yield* nodes(item);
  } else if (isNode(value)) {
    yield value;
    for (const child of Object.values(value)) yield* nodes(child);
  }
}

/** A column reference's name: a string, or `{ expr: { value } }` in some node-sql-parser versions. */
function columnName(node: Node): string | undefined {
  if (node.type !== 'column_ref') return undefined;
  const { column } = node;
  if (typeof column === 'string') return column;
  if (isNode(column) && isNode(column.expr) && typeof column.expr.value === 'string') return column.expr.value;
  return undefined;
}

function functionName(node: Node): string | undefined {
  if (node.type === 'aggr_func' && typeof node.name === 'string') return node.name;
  if (node.type !== 'function' || !isNode(node.name)) return undefined;
  const parts = node.name.name;
  return Array.isArray(parts) ? parts.map((part: Node) => String(part.value)).join('.') : undefined;
}

const STRING_LITERALS = new Set(['single_quote_string', 'double_quote_string', 'string']);

/** The string literals `node` is (a literal, or a list of them), or undefined when it is anything else. */
function literals(node: unknown): string[] | undefined {
  if (!isNode(node)) return undefined;
  if (STRING_LITERALS.has(String(node.type))) return [String(node.value)];
  if (node.type === 'expr_list' && Array.isArray(node.value)) {
    const values = node.value.map(literals);
    return values.every((value) => value !== undefined) ? values.flat() : undefined;
  }
  return undefined;
}

interface Checked {
  problems: string[];
  kinds: string[];
}

/** Everything wrong with one query, by the rules above (an empty list: nothing). */
function check(query: Pick<DocumentedQuery, 'name' | 'sql' | 'fixedWindow'>): Checked {
  const problems: string[] = [];
  const { sql } = query;
  if (/;\s*$/.test(sql)) problems.push('ends with a semicolon');
  if (/\bFORMAT\b/i.test(sql)) problems.push('has a FORMAT clause (the script appends FORMAT JSON)');
  if (!new RegExp(`\\bFROM ${DOCUMENTED_DATASET}\\b`).test(sql)) problems.push(`does not read FROM ${DOCUMENTED_DATASET}`);
  const windows = sql.split(WINDOW_TEXT).length - 1;
  if (!query.fixedWindow && windows !== 1) problems.push(`has the window text ${windows} times, not once: ${WINDOW_TEXT}`);
  if (query.fixedWindow && !sql.includes('timestamp > NOW() - INTERVAL')) problems.push('a fixed-window query without a time restriction');

  let ast: unknown;
  try {
    ast = parser.astify(sql, PARSE_OPTIONS);
  } catch (error) {
    problems.push(`does not parse: ${error instanceof Error ? error.message : String(error)}`);
    return { problems, kinds: [] };
  }
  const statements = Array.isArray(ast) ? ast : [ast];
  if (statements.length !== 1 || !isNode(statements[0]) || statements[0].type !== 'select') problems.push('is not one SELECT');

  for (const entry of parser.tableList(sql, PARSE_OPTIONS)) {
    const table = entry.split('::').at(-1);
    if (table !== DOCUMENTED_DATASET) problems.push(`reads ${table}, not ${DOCUMENTED_DATASET}`);
  }

  // Aliases the query defines (`… AS route`), and what each stands for when it is a bare column.
  const aliasOf = new Map<string, string | undefined>();
  for (const statement of statements) {
    if (!isNode(statement) || !Array.isArray(statement.columns)) continue;
    for (const column of statement.columns as Node[]) {
      if (typeof column.as === 'string') aliasOf.set(column.as, isNode(column.expr) ? columnName(column.expr) : undefined);
    }
  }
  const kinds: string[] = [];
  for (const node of nodes(ast)) {
    const column = columnName(node);
    if (column !== undefined && !LAYOUT_COLUMNS.has(column) && !aliasOf.has(column)) {
      problems.push(`names ${column}, which is neither a column of the layout nor an alias of the query`);
    }
    const name = functionName(node)?.toLowerCase();
    if (name === 'count' || name === 'countif') problems.push(`counts rows with ${name}(): counts are sum(_sample_interval) (sampling)`);
    if (name?.startsWith('quantile')) {
      const args = isNode(node.args) && Array.isArray(node.args.value) ? (node.args.value as Node[]) : [];
      if (name !== 'quantileweighted' || args.length !== 3 || columnName(args[2] ?? {}) !== '_sample_interval') {
        problems.push('a percentile other than quantileWeighted(level, expression, _sample_interval)');
      }
    }
    if (node.type === 'binary_expr') {
      for (const [side, other] of [
        [node.left, node.right],
        [node.right, node.left],
      ]) {
        const sideColumn = isNode(side) ? columnName(side) : undefined;
        const resolved = sideColumn !== undefined && aliasOf.has(sideColumn) ? aliasOf.get(sideColumn) : sideColumn;
        if (resolved !== METRIC_COLUMNS.kind) continue;
        const compared = literals(other);
        if (compared === undefined) problems.push(`compares ${METRIC_COLUMNS.kind} with something other than string literals`);
        for (const kind of compared ?? []) {
          kinds.push(kind);
          if (!KINDS.has(kind)) problems.push(`compares ${METRIC_COLUMNS.kind} with '${kind}', which is not one of METRIC_KINDS`);
        }
      }
    }
  }
  if (kinds.length === 0) problems.push(`never restricts ${METRIC_COLUMNS.kind} (the kind): points of every kind would mix`);
  return { problems, kinds };
}

const extraction = extractAll([
  { file: 'docs/observability.md', markdown: observability },
  { file: 'docs/operations.md', markdown: operations },
]);
const { queries } = extraction;

describe('the documented metric queries', () => {
  it('are all well formed: every sql block named, every name once, every marker followed by its block', () => {
    expect(extraction.problems).toEqual([]);
    expect(queries.length).toBeGreaterThanOrEqual(REQUIRED_QUERIES.length);
  });

  it('cover every metric of the list', () => {
    const names = new Set(queries.map((query) => query.name));
    expect(REQUIRED_QUERIES.filter((name) => !names.has(name))).toEqual([]);
  });

  it('put the SLO and alert queries in operations.md, with windows of their own', () => {
    const fixed = queries.filter((query) => query.fixedWindow);
    expect(fixed.length).toBeGreaterThan(0);
    for (const query of fixed) expect(query.file).toBe('docs/operations.md');
  });

  it.each(queries.map((query) => [query.name, query] as const))('%s parses and holds to the layout', (_, query) => {
    expect(check(query).problems).toEqual([]);
  });
});

describe('docs/observability.md', () => {
  it('documents every column of METRIC_COLUMNS at its position', () => {
    for (const [field, column] of Object.entries(METRIC_COLUMNS)) {
      expect(observability).toContain(`| \`${column}\` | \`${field}\` |`);
    }
  });

  it('documents every kind and every security event type', () => {
    for (const kind of METRIC_KINDS) expect(observability).toContain(`| \`${kind}\` |`);
    for (const event of SECURITY_EVENT_TYPES) expect(observability).toContain(`| \`${event}\` |`);
  });
});

describe('the checks', () => {
  const window = WINDOW_TEXT;
  const broken: Array<[string, string, string]> = [
    [
      'a syntax error',
      `SELECT blob2 AS route, sum(_sample_interval AS requests FROM switchyard_metrics WHERE blob1 = 'request' AND ${window} GROUP BY route`,
      'does not parse',
    ],
    ['a column outside the layout', `SELECT blob12 AS route FROM switchyard_metrics WHERE blob1 = 'request' AND ${window}`, 'names blob12'],
    ['another table', `SELECT blob2 FROM other_metrics WHERE blob1 = 'request' AND ${window}`, 'reads other_metrics'],
    [
      'a kind that does not exist',
      `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE blob1 = 'requests' AND ${window}`,
      "'requests'",
    ],
    [
      'a kind in a list',
      `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE blob1 IN ('request', 'socket') AND ${window}`,
      "'socket'",
    ],
    ['no kind', `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE ${window}`, 'never restricts'],
    ['no window', `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE blob1 = 'request'`, '0 times'],
    [
      'the window twice',
      `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE blob1 = 'request' AND ${window} AND ${window}`,
      '2 times',
    ],
    [
      'a trailing semicolon',
      `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE blob1 = 'request' AND ${window};`,
      'semicolon',
    ],
    [
      'a FORMAT clause',
      `SELECT sum(_sample_interval) AS n FROM switchyard_metrics WHERE blob1 = 'request' AND ${window} FORMAT JSON`,
      'FORMAT',
    ],
    ['count(*)', `SELECT count(*) AS n FROM switchyard_metrics WHERE blob1 = 'request' AND ${window}`, 'count()'],
    ['countIf()', `SELECT countIf(double1 >= 500) AS n FROM switchyard_metrics WHERE blob1 = 'request' AND ${window}`, 'countif()'],
    [
      'an unweighted percentile',
      `SELECT quantileWeighted(0.99, double2, double1) AS p99 FROM switchyard_metrics WHERE blob1 = 'request' AND ${window}`,
      'quantileWeighted(level, expression, _sample_interval)',
    ],
  ];

  it.each(broken)('refuse %s', (_, sql, expected) => {
    const { problems } = check({ name: 'broken', sql, fixedWindow: false });
    expect(problems.join('\n')).toContain(expected);
  });

  it('accept a query that follows the rules, an alias of blob1 included', () => {
    const sql = `SELECT blob1 AS kind, blob2 AS route, sum(_sample_interval) AS requests FROM switchyard_metrics WHERE kind = 'request' AND ${window} GROUP BY kind, route HAVING requests > 1 ORDER BY requests DESC`;
    expect(check({ name: 'good', sql, fixedWindow: false })).toEqual({ problems: [], kinds: ['request'] });
  });
});
