/**
 * The named Analytics Engine queries of docs/observability.md and docs/operations.md, read straight
 * from the Markdown: the docs are the one source, `npm run metrics` runs what they say, and
 * test/contract/observability-queries.test.ts checks the same text. A query is a ```sql block whose
 * line above is its marker:
 *
 *   <!-- query: latency-by-route -->                  over the window `--since` picks (default 1 h)
 *   <!-- query: availability-burn-rate (fixed window) -->   its own windows, never rewritten
 *
 * A window query contains {@link WINDOW_TEXT} exactly once, which is what `--since` rewrites; every
 * query reads `FROM switchyard_metrics` (production's dataset), which `--env` rewrites. Nothing else
 * in a query is ever changed. No Node imports: the Workers test pool imports this module too.
 */

/** The restriction every window query has, word for word: `--since` replaces it. */
export const WINDOW_TEXT = "timestamp > NOW() - INTERVAL '1' HOUR";
/** The dataset every query names (production's): `--env` replaces it. */
export const DOCUMENTED_DATASET = 'switchyard_metrics';
/** The dataset of each deployment (wrangler.toml's `analytics_engine_datasets`). */
export const DATASETS = {
  production: 'switchyard_metrics',
  staging: 'switchyard_metrics_staging',
  dev: 'switchyard_metrics_dev',
  chaos: 'switchyard_metrics_chaos',
} as const;
export type DatasetEnvironment = keyof typeof DATASETS;

/** The files the queries live in, relative to the repository's root. */
export const QUERY_FILES = ['docs/observability.md', 'docs/operations.md'] as const;

export interface DocumentedQuery {
  name: string;
  /** Its windows are its own: `--since` leaves it as written. */
  fixedWindow: boolean;
  sql: string;
  /** The heading the query sits under, for the printed table. */
  title: string;
  file: string;
  /** 1-based line of its marker. */
  line: number;
}

export interface QueryExtraction {
  queries: DocumentedQuery[];
  /** What breaks the format: a ```sql block without a marker, a marker without a block, a name twice. */
  problems: string[];
}

const MARKER = /^<!--\s*query:\s*([a-z0-9]+(?:-[a-z0-9]+)*)\s*(\(fixed window\))?\s*-->\s*$/;
const LOOSE_MARKER = /^<!--\s*query\b/;
const SQL_FENCE = /^```sql\s*$/;
const HEADING = /^#{1,6}\s+(.+?)\s*#*\s*$/;

/** The named queries of one Markdown file, with what is wrong with its format (if anything). */
export function extractQueries(markdown: string, file: string): QueryExtraction {
  const queries: DocumentedQuery[] = [];
  const problems: string[] = [];
  const lines = markdown.split('\n');
  let title = '';
  let fenced = false;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (line.startsWith('```')) {
      if (!fenced && SQL_FENCE.test(line)) problems.push(`${file}:${index + 1}: a sql block without a <!-- query: name --> line above it`);
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const heading = HEADING.exec(line);
    if (heading) title = (heading[1] ?? '').replaceAll('`', '');
    if (!LOOSE_MARKER.test(line)) continue;
    const marker = MARKER.exec(line);
    if (!marker) {
      problems.push(
        `${file}:${index + 1}: not a query marker (<!-- query: kebab-name --> or <!-- query: kebab-name (fixed window) -->): ${line}`,
      );
      continue;
    }
    if (!SQL_FENCE.test(lines[index + 1] ?? '')) {
      problems.push(`${file}:${index + 1}: query ${marker[1]} is not followed by a \`\`\`sql block`);
      continue;
    }
    const body: string[] = [];
    let end = index + 2;
    while (end < lines.length && !(lines[end] ?? '').startsWith('```')) body.push(lines[end++] ?? '');
    if (end >= lines.length) problems.push(`${file}:${index + 1}: the sql block of ${marker[1]} is never closed`);
    queries.push({
      name: marker[1] ?? '',
      fixedWindow: marker[2] !== undefined,
      sql: body.join('\n').trim(),
      title,
      file,
      line: index + 1,
    });
    index = end;
  }
  return { queries, problems };
}

/** The queries of several files, a name used twice (in any of them) being a problem. */
export function extractAll(files: ReadonlyArray<{ file: string; markdown: string }>): QueryExtraction {
  const queries: DocumentedQuery[] = [];
  const problems: string[] = [];
  for (const { file, markdown } of files) {
    const extraction = extractQueries(markdown, file);
    queries.push(...extraction.queries);
    problems.push(...extraction.problems);
  }
  const seen = new Map<string, DocumentedQuery>();
  for (const query of queries) {
    const first = seen.get(query.name);
    if (first) problems.push(`${query.file}:${query.line}: query name ${query.name} is used already (${first.file}:${first.line})`);
    else seen.set(query.name, query);
  }
  return { queries, problems };
}

export interface Window {
  amount: number;
  unit: 'MINUTE' | 'HOUR' | 'DAY';
}

/** `30m`, `6h`, `7d` → the window; undefined for anything else. */
export function parseWindow(text: string): Window | undefined {
  const match = /^([1-9][0-9]{0,4})([mhd])$/.exec(text.trim());
  if (!match) return undefined;
  const unit = ({ m: 'MINUTE', h: 'HOUR', d: 'DAY' } as const)[match[2] as 'm' | 'h' | 'd'];
  return { amount: Number(match[1]), unit };
}

/** The restriction of `window`, written as the docs write theirs. */
export function windowText(window: Window): string {
  return `timestamp > NOW() - INTERVAL '${window.amount}' ${window.unit}`;
}

/** The SQL to send for `query`: its window (unless fixed) and its dataset rewritten, nothing else. */
export function rewriteQuery(query: Pick<DocumentedQuery, 'sql' | 'fixedWindow'>, options: { window: Window; dataset: string }): string {
  const windowed = query.fixedWindow ? query.sql : query.sql.replaceAll(WINDOW_TEXT, windowText(options.window));
  // A whole word: `switchyard_metrics_dev` is another dataset, never rewritten.
  return windowed.replace(/\bFROM switchyard_metrics\b/g, `FROM ${options.dataset}`);
}
