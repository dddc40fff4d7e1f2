/**
 * `npm run metrics -- [--since 1h] [--env production|staging|dev|chaos] [--query <name>]`
 *
 * Runs the named queries of docs/observability.md and docs/operations.md (the docs are the one
 * copy: scripts/lib/metric-queries.ts reads them) against the Workers Analytics Engine SQL API and
 * prints a plain-text table per query. Nothing in a query changes but its window (`--since`, `Nm`,
 * `Nh` or `Nd`: the text `timestamp > NOW() - INTERVAL '1' HOUR`, not in a `(fixed window)` query)
 * and its dataset (`--env`, default production: `FROM switchyard_metrics`); ` FORMAT JSON` is
 * appended.
 *
 * Needs CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics: Read); without them it
 * names each one missing and exits 2, before any request. CLOUDFLARE_API_BASE_URL (default
 * https://api.cloudflare.com/client/v4, as wrangler reads it) points it elsewhere. An error answer
 * prints its status and message and exits 1 (at once for 401 / 403, which every query would get).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DATASETS,
  type DatasetEnvironment,
  type DocumentedQuery,
  extractAll,
  parseWindow,
  QUERY_FILES,
  rewriteQuery,
  type Window,
} from './lib/metric-queries.ts';

const ROOT = join(import.meta.dirname, '..');
const DEFAULT_API_BASE_URL = 'https://api.cloudflare.com/client/v4';
const REQUIRED_VARIABLES = ['CLOUDFLARE_ACCOUNT_ID', 'CLOUDFLARE_API_TOKEN'] as const;
const QUERY_TIMEOUT_MS = 30_000;
/** An error body is shown up to this long: enough for the API's message, not a page of HTML. */
const MAX_ERROR_LENGTH = 500;

function usage(message: string): never {
  console.error(`metrics: ${message}`);
  console.error('usage: npm run metrics -- [--since 1h] [--env production|staging|dev|chaos] [--query <name>]');
  process.exit(2);
}

interface Settings {
  window: Window;
  since: string;
  environment: DatasetEnvironment;
  queryName: string | undefined;
}

function settingsFrom(argv: string[]): Settings {
  let values: { since?: string; env?: string; query?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { since: { type: 'string', default: '1h' }, env: { type: 'string', default: 'production' }, query: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const since = values.since ?? '1h';
  const window = parseWindow(since);
  if (window === undefined) usage(`--since ${since}: give minutes, hours or days as Nm, Nh or Nd (30m, 6h, 7d)`);
  const environment = values.env ?? 'production';
  if (!Object.hasOwn(DATASETS, environment)) usage(`--env ${environment}: one of ${Object.keys(DATASETS).join(', ')}`);
  return { window, since, environment: environment as DatasetEnvironment, queryName: values.query };
}

async function documentedQueries(): Promise<DocumentedQuery[]> {
  const files = await Promise.all(QUERY_FILES.map(async (file) => ({ file, markdown: await readFile(join(ROOT, file), 'utf8') })));
  const { queries, problems } = extractAll(files);
  // The contract test refuses these too; a run never guesses what a broken marker meant.
  if (problems.length > 0) {
    for (const problem of problems) console.error(`metrics: ${problem}`);
    process.exit(2);
  }
  return queries;
}

/** The settings that are missing, by name; none may be skipped. */
function missingVariables(env: NodeJS.ProcessEnv): string[] {
  return REQUIRED_VARIABLES.filter((name) => (env[name] ?? '').trim() === '');
}

interface SqlResult {
  meta?: Array<{ name: string; type?: string }>;
  data?: Array<Record<string, unknown>>;
  rows?: number;
}

class ApiFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
  }
}

/** What an error answer says: the v4 API's `errors[].message`, another JSON `message` / `error`, else the text. */
function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: number; message?: string }>; message?: string; error?: string };
    const messages = (parsed.errors ?? []).map((error) => [error.code, error.message].filter((part) => part !== undefined).join(' '));
    if (messages.length > 0) return messages.join('; ');
    if (typeof parsed.message === 'string') return parsed.message;
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON: the SQL API answers some errors as plain text.
  }
  const text = body.trim();
  return text === '' ? '(empty body)' : text.slice(0, MAX_ERROR_LENGTH);
}

async function runSql(endpoint: string, token: string, sql: string): Promise<SqlResult> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain; charset=utf-8' },
    body: `${sql} FORMAT JSON`,
    signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
  });
  const body = await response.text();
  if (!response.ok) throw new ApiFailure(response.status, errorMessage(body));
  try {
    return JSON.parse(body) as SqlResult;
  } catch {
    throw new ApiFailure(response.status, `the answer is not JSON: ${body.slice(0, MAX_ERROR_LENGTH)}`);
  }
}

/** A cell as printed: numbers with at most three decimals, nothing for null. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(3)));
  if (typeof value === 'string' && /^-?\d+\.\d{4,}$/.test(value)) return String(Number(Number(value).toFixed(3)));
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The rows as a plain-text table, columns in the order the query selects them. */
function renderTable(result: SqlResult): string {
  const rows = result.data ?? [];
  const columns = result.meta?.map((column) => column.name) ?? Object.keys(rows[0] ?? {});
  if (columns.length === 0 || rows.length === 0) return '(no rows)';
  const cells = rows.map((row) => columns.map((column) => cell(row[column])));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => (line[index] ?? '').length)));
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd();
  const count = rows.length === 1 ? '(1 row)' : `(${rows.length} rows)`;
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line), count].join('\n');
}

const settings = settingsFrom(process.argv.slice(2));
const all = await documentedQueries();
const chosen = settings.queryName === undefined ? all : all.filter((query) => query.name === settings.queryName);
if (chosen.length === 0)
  usage(`--query ${settings.queryName}: no such query; the documented ones are ${all.map((query) => query.name).join(', ')}`);

const missing = missingVariables(process.env);
if (missing.length > 0) {
  for (const name of missing) console.error(`metrics: ${name} is not set`);
  console.error(
    'metrics: set CLOUDFLARE_ACCOUNT_ID (the account that owns the Worker) and CLOUDFLARE_API_TOKEN (a token with Account Analytics: Read); nothing was queried',
  );
  process.exit(2);
}

const accountId = (process.env.CLOUDFLARE_ACCOUNT_ID ?? '').trim();
const token = (process.env.CLOUDFLARE_API_TOKEN ?? '').trim();
const base = (process.env.CLOUDFLARE_API_BASE_URL ?? '').trim().replace(/\/+$/, '') || DEFAULT_API_BASE_URL;
const endpoint = `${base}/accounts/${encodeURIComponent(accountId)}/analytics_engine/sql`;
const dataset = DATASETS[settings.environment];

let failed = 0;
for (const query of chosen) {
  const window = query.fixedWindow ? 'its own windows' : `the last ${settings.since}`;
  console.log(`\n== ${query.name}: ${query.title} (${window}, ${dataset}; ${query.file}:${query.line})`);
  try {
    console.log(renderTable(await runSql(endpoint, token, rewriteQuery(query, { window: settings.window, dataset }))));
  } catch (error) {
    failed += 1;
    if (error instanceof ApiFailure) {
      console.error(`metrics: ${query.name}: HTTP ${error.status}: ${error.message}`);
      // A refused token or account is refused for every query alike: say it once.
      if (error.status === 401 || error.status === 403) break;
      continue;
    }
    console.error(`metrics: ${query.name}: could not reach ${endpoint}: ${error instanceof Error ? error.message : String(error)}`);
    break;
  }
}
if (failed > 0) {
  console.error(`metrics: ${failed} of ${chosen.length} queries failed`);
  process.exit(1);
}
