/**
 * `npm run test:metrics`: runs scripts/metrics.ts as a child process, as a reader would, and checks
 * what it does. Ends with `metrics: N passed, N failed`.
 *
 * 1. Without CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN: exit 2, both named, no request made.
 * 2. Against a stand-in for the SQL API (node:http on 127.0.0.1, a random port): it stands in for
 *    Cloudflare's network, which cannot be reached from here. Each documented query must arrive as
 *    POST /client/v4/accounts/<id>/analytics_engine/sql with the bearer token, its body the SQL as
 *    documented with only the window (`--since 6h`, not in a fixed-window query) and the dataset
 *    (`--env staging`) rewritten, plus ` FORMAT JSON`; the printed tables must hold the stand-in's
 *    rows. Then one query alone (`--query`, `--since 30m --env dev`).
 * 3. The API answering 403: exit 1, the status and the API's message printed, no second request.
 * 4. Bad arguments (`--since 5x`, an unknown `--query`, an unknown `--env`): exit 2, no request.
 *
 * The expected bodies are rewritten here with plain string replacement, not with the script's own
 * rewriting, so a rewrite that changed anything else would show.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type DocumentedQuery, extractAll, QUERY_FILES } from './lib/metric-queries.ts';

const ROOT = join(import.meta.dirname, '..');
const SCRIPT = join(ROOT, 'scripts', 'metrics.ts');
const ACCOUNT_ID = 'acc0123456789abcdef';
const TOKEN = 'stand-in-token-not-a-secret';
const WINDOW = "timestamp > NOW() - INTERVAL '1' HOUR";

interface Received {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** What the stand-in answers to a body: a status and a JSON body. */
type Answer = (body: string) => { status: number; json: unknown };

interface StandIn {
  baseUrl: string;
  received: Received[];
  answer: Answer;
  close: () => Promise<void>;
}

async function startStandIn(): Promise<StandIn> {
  const standIn = { received: [] as Received[], answer: (() => ({ status: 500, json: {} })) as Answer };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      standIn.received.push({ method: request.method ?? '', url: request.url ?? '', authorization: request.headers.authorization, body });
      const { status, json } = standIn.answer(body);
      response.writeHead(status, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(standIn, {
    baseUrl: `http://127.0.0.1:${port}/client/v4`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

function runMetrics(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment without any Cloudflare setting of the machine's, plus `extra`. */
function environment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CLOUDFLARE_')) env[name] = value;
  return { ...env, ...extra };
}

/** What the stand-in's row for a query says: a string and a number the printed table must show. */
function rowOf(name: string): { label: string; value: number } {
  return { label: `row-of-${name}`, value: 42.5 };
}

const results: Array<{ name: string; problems: string[] }> = [];
async function check(name: string, run: () => Promise<string[]>): Promise<void> {
  let problems: string[];
  try {
    problems = await run();
  } catch (error) {
    problems = [`threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`];
  }
  results.push({ name, problems });
  console.log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${name}`);
  for (const problem of problems) console.log(`     ${problem}`);
}

const files = await Promise.all(QUERY_FILES.map(async (file) => ({ file, markdown: await readFile(join(ROOT, file), 'utf8') })));
const { queries, problems: formatProblems } = extractAll(files);
const standIn = await startStandIn();
const credentials = { CLOUDFLARE_ACCOUNT_ID: ACCOUNT_ID, CLOUDFLARE_API_TOKEN: TOKEN, CLOUDFLARE_API_BASE_URL: standIn.baseUrl };
const sqlPath = `/client/v4/accounts/${ACCOUNT_ID}/analytics_engine/sql`;

/** The body a query must arrive as, rewritten here by plain replacement. */
function expectedBody(query: DocumentedQuery, window: string, dataset: string): string {
  const windowed = query.fixedWindow ? query.sql : query.sql.split(WINDOW).join(window);
  return `${windowed.split('FROM switchyard_metrics\n').join(`FROM ${dataset}\n`)} FORMAT JSON`;
}

/** Problems with the requests received, each expected body arriving once, in the documented order. */
function requestProblems(expected: Array<{ name: string; body: string }>): string[] {
  const problems: string[] = [];
  if (standIn.received.length !== expected.length) problems.push(`${standIn.received.length} requests arrived, not ${expected.length}`);
  expected.forEach(({ name, body }, index) => {
    const request = standIn.received[index];
    if (request === undefined) return;
    if (request.method !== 'POST') problems.push(`${name}: method ${request.method}, not POST`);
    if (request.url !== sqlPath) problems.push(`${name}: path ${request.url}, not ${sqlPath}`);
    if (request.authorization !== `Bearer ${TOKEN}`) problems.push(`${name}: Authorization ${request.authorization ?? '(none)'}`);
    if (request.body !== body)
      problems.push(`${name}: the body differs from the documented query:\n${request.body}\n--- expected ---\n${body}`);
  });
  return problems;
}

/** The stand-in's usual answer: the row of whichever documented query the body is. */
function rowsAnswer(expected: Array<{ name: string; body: string }>): Answer {
  return (body) => {
    const match = expected.find((entry) => entry.body === body);
    if (match === undefined) return { status: 400, json: { success: false, errors: [{ code: 7400, message: 'not a documented query' }] } };
    return {
      status: 200,
      json: {
        meta: [
          { name: 'label', type: 'String' },
          { name: 'value', type: 'Float64' },
        ],
        data: [rowOf(match.name)],
        rows: 1,
      },
    };
  };
}

try {
  await check('the docs hold named queries, well formed', async () => {
    const problems = [...formatProblems];
    if (queries.length === 0) problems.push('no query found in the docs');
    if (!queries.some((query) => query.fixedWindow)) problems.push('no fixed-window query (operations.md) found');
    return problems;
  });

  await check('without CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN: exit 2, both named, no request', async () => {
    standIn.received.length = 0;
    const { code, stderr } = await runMetrics(['--since', '1h'], environment({ CLOUDFLARE_API_BASE_URL: standIn.baseUrl }));
    const problems: string[] = [];
    if (code !== 2) problems.push(`exit ${code}, not 2`);
    for (const name of ['CLOUDFLARE_ACCOUNT_ID', 'CLOUDFLARE_API_TOKEN'])
      if (!stderr.includes(name)) problems.push(`the message does not name ${name}`);
    if (standIn.received.length > 0) problems.push(`${standIn.received.length} requests were made`);
    return problems;
  });

  await check('with only the token missing: exit 2 naming it alone', async () => {
    standIn.received.length = 0;
    const { code, stderr } = await runMetrics(
      [],
      environment({ CLOUDFLARE_ACCOUNT_ID: ACCOUNT_ID, CLOUDFLARE_API_BASE_URL: standIn.baseUrl }),
    );
    const problems: string[] = [];
    if (code !== 2) problems.push(`exit ${code}, not 2`);
    if (!stderr.includes('CLOUDFLARE_API_TOKEN is not set')) problems.push('CLOUDFLARE_API_TOKEN is not named as missing');
    if (stderr.includes('CLOUDFLARE_ACCOUNT_ID is not set')) problems.push('CLOUDFLARE_ACCOUNT_ID is named as missing, though set');
    if (standIn.received.length > 0) problems.push(`${standIn.received.length} requests were made`);
    return problems;
  });

  await check('--since 6h --env staging: every documented query sent as documented, its rows printed', async () => {
    const expected = queries.map((query) => ({
      name: query.name,
      body: expectedBody(query, "timestamp > NOW() - INTERVAL '6' HOUR", 'switchyard_metrics_staging'),
    }));
    standIn.received.length = 0;
    standIn.answer = rowsAnswer(expected);
    const { code, stdout, stderr } = await runMetrics(['--since', '6h', '--env', 'staging'], environment(credentials));
    const problems = requestProblems(expected);
    if (code !== 0) problems.push(`exit ${code}, not 0: ${stderr.trim()}`);
    for (const { name } of expected) {
      const section = stdout.split('\n== ').find((part) => part.startsWith(`${name}:`));
      if (section === undefined) problems.push(`${name}: no table printed`);
      else if (!section.includes(rowOf(name).label) || !section.includes(String(rowOf(name).value)))
        problems.push(`${name}: its table lacks the stand-in's row`);
    }
    for (const query of queries) {
      const window = query.fixedWindow ? '' : "INTERVAL '6' HOUR";
      if (window !== '' && !standIn.received.some((request) => request.body.includes(window)))
        problems.push(`${query.name}: window not rewritten`);
    }
    return problems;
  });

  await check('--query latency-by-route --since 30m --env dev: that query alone', async () => {
    const query = queries.find((candidate) => candidate.name === 'latency-by-route');
    if (query === undefined) return ['latency-by-route is not documented'];
    const expected = [
      { name: query.name, body: expectedBody(query, "timestamp > NOW() - INTERVAL '30' MINUTE", 'switchyard_metrics_dev') },
    ];
    standIn.received.length = 0;
    standIn.answer = rowsAnswer(expected);
    const { code, stdout, stderr } = await runMetrics(
      ['--query', 'latency-by-route', '--since', '30m', '--env', 'dev'],
      environment(credentials),
    );
    const problems = requestProblems(expected);
    if (code !== 0) problems.push(`exit ${code}, not 0: ${stderr.trim()}`);
    if (!stdout.includes(rowOf(query.name).label)) problems.push("the table lacks the stand-in's row");
    return problems;
  });

  await check('an API error (403): exit 1, the status and the message printed, no further request', async () => {
    standIn.received.length = 0;
    standIn.answer = () => ({ status: 403, json: { success: false, errors: [{ code: 10000, message: 'Authentication error' }] } });
    const { code, stderr } = await runMetrics([], environment(credentials));
    const problems: string[] = [];
    if (code !== 1) problems.push(`exit ${code}, not 1`);
    if (!stderr.includes('403')) problems.push('the status 403 is not printed');
    if (!stderr.includes('Authentication error')) problems.push("the API's message is not printed");
    if (standIn.received.length !== 1) problems.push(`${standIn.received.length} requests arrived, not 1`);
    return problems;
  });

  for (const [what, args] of [
    ['--since 5x', ['--since', '5x']],
    ['an unknown --query', ['--query', 'no-such-query']],
    ['an unknown --env', ['--env', 'qa']],
  ] as const) {
    await check(`${what}: exit 2, no request`, async () => {
      standIn.received.length = 0;
      const { code } = await runMetrics([...args], environment(credentials));
      const problems: string[] = [];
      if (code !== 2) problems.push(`exit ${code}, not 2`);
      if (standIn.received.length > 0) problems.push(`${standIn.received.length} requests were made`);
      return problems;
    });
  }
} finally {
  await standIn.close();
}

const failed = results.filter((result) => result.problems.length > 0).length;
console.log(`metrics: ${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
