/**
 * `npm run fuzz`: fuzzes the API with schemathesis (every check, every phase, as configured in
 * schemathesis.toml), by default against a throwaway local Worker on a fresh D1, as CI does; with
 * `--url` and `--key`, against a deployment started elsewhere (staging, `npm start`), as a fuzzing
 * organisation's key (`npm run org:create -- --fuzz` makes one). Installs the pinned schemathesis
 * in a virtual environment of its own (.fuzz/venv) when it is not there, writes a JUnit report
 * (reports/fuzz-junit.xml unless --report says otherwise), stops the local Worker whatever happens,
 * and exits non-zero on any failure. The last line is `fuzz: N passed, N failed`, counted from the
 * report. docs/fuzzing.md says what a run creates and why it refuses production.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PLAN_LIMITS } from '../src/db/organizations.ts';
import { checkApiKeyFormat } from '../src/lib/api-key.ts';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, freePort, type LocalWorker, migrateLocal, ROOT, run, startLocalWorker } from './lib/local-worker.ts';
import { bootstrapOrganization, FUZZING_ORGANIZATION } from './lib/org-bootstrap.ts';

const SPEC = 'openapi/openapi.json';
const DEFAULT_PORT = 8788;
const PERSIST_TO = join(ROOT, '.fuzz', 'state');
// Ours alone (.fuzz/ is git-ignored), so it can be replaced at will: a user's own schemathesis,
// pipx's or any other, is never touched.
const VENV = join(ROOT, '.fuzz', 'venv');
const ST = join(VENV, 'bin', 'st');
// Every package pinned, not schemathesis alone: hypothesis decides what a seed generates.
const REQUIREMENTS = join(ROOT, 'scripts', 'fuzz-requirements.txt');
const SCHEMATHESIS_VERSION = /^schemathesis==(\S+)$/m.exec(await readFile(REQUIREMENTS, 'utf8'))?.[1];
if (SCHEMATHESIS_VERSION === undefined) throw new Error(`${relative(ROOT, REQUIREMENTS)} pins no schemathesis`);
/** A copy of the requirements the venv was built from: a venv built from others is rebuilt. */
const INSTALLED_REQUIREMENTS = join(VENV, 'switchyard-requirements.txt');
const REPORTS = join(ROOT, 'reports');
const WORKER_LOG = join(REPORTS, 'fuzz-worker.log');

const PYTHON = 'python3';
const PYTHON_ENV = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' };

const USAGE = `npm run fuzz -- [--url URL --key KEY] [--seed N] [--examples N] [--max-time SECONDS] [--port N] [--report PATH]

  (no --url)          a throwaway local Worker on a fresh D1, with a fuzzing organisation (what CI runs)
  --url URL           the base URL of a deployment started elsewhere: staging, \`npm start\`; never production
  --key KEY           a fuzzing organisation's test-mode key (\`npm run org:create -- --fuzz\` prints one)
  --seed N            schemathesis's random seed, to repeat a run (its summary prints the seed it used)
  --examples N        test cases per operation and cycle (schemathesis's --max-examples; default 100)
  --max-time SECONDS  the run's time budget (default 300, from schemathesis.toml)
  --port N            the local Worker's port (default ${DEFAULT_PORT}, else any free one); not with --url
  --report PATH       where the JUnit report goes (default reports/fuzz-junit.xml)`;

/** A target the fuzzer will not run against: exit 2. */
class Refused extends Error {}
/** A command line it cannot follow: exit 2, with the usage. */
class UsageError extends Error {}
class Interrupted extends Error {}

let interrupted: NodeJS.Signals | undefined;
let schemathesis: ChildProcess | undefined;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = signal;
    console.error(`\nfuzz: ${signal} received, stopping`);
    // schemathesis treats SIGINT as Ctrl-C: it stops, writes its report and exits. The Worker is
    // stopped by main()'s `finally`, once the step in progress returns.
    schemathesis?.kill('SIGINT');
  });
}

function checkInterrupted(): void {
  if (interrupted) throw new Interrupted(`interrupted by ${interrupted}`);
}

interface Options {
  /** The deployment to fuzz; none: a local Worker this run starts. */
  target?: { url: string; key: string };
  seed?: string;
  examples?: number;
  maxTime?: number;
  port?: number;
  report: string;
}

function integerFlag(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return value;
}

function baseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url must be an absolute http(s) URL, got ${raw}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '')
    throw new UsageError(`--url must be an http(s) base URL without query or fragment, got ${raw}`);
  return url.href.replace(/\/+$/, '');
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      seed: { type: 'string' },
      examples: { type: 'string' },
      'max-time': { type: 'string' },
      port: { type: 'string' },
      report: { type: 'string', default: join('reports', 'fuzz-junit.xml') },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if ((values.url === undefined) !== (values.key === undefined)) throw new UsageError('--url and --key go together');
  if (values.url !== undefined && values.port !== undefined) throw new UsageError('--port is for the local Worker, not with --url');
  if (values.seed !== undefined && !/^\d{1,40}$/.test(values.seed))
    throw new UsageError(`--seed must be a non-negative integer, got ${values.seed}`);
  let target: Options['target'];
  if (values.url !== undefined && values.key !== undefined) {
    const mode = checkApiKeyFormat(values.key);
    if (mode === undefined) throw new UsageError('--key is not a Switchyard API key (sy_test_…)');
    // Staging runs production's settings, so the API cannot say which one it is; the key can. A
    // fuzzing organisation's key is test-mode, and org:create refuses to make one in production.
    if (mode === 'live')
      throw new Refused(
        '--key is a live-mode key: the fuzzer creates and destroys data, so it only takes a fuzzing organisation’s test-mode key (npm run org:create -- --fuzz)',
      );
    target = { url: baseUrl(values.url), key: values.key };
  }
  return {
    target,
    seed: values.seed,
    examples: integerFlag('examples', values.examples, 1, 100_000),
    maxTime: integerFlag('max-time', values['max-time'], 1, 86_400),
    port: integerFlag('port', values.port, 1, 65_535),
    report: resolve(ROOT, values.report),
  };
}

/** stdout of a command, or undefined when it cannot be run or fails. */
function output(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, env: PYTHON_ENV, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
      resolve(error ? undefined : stdout),
    );
  });
}

async function schemathesisInstalled(): Promise<boolean> {
  const wanted = await readFile(REQUIREMENTS, 'utf8');
  const installed = existsSync(INSTALLED_REQUIREMENTS) ? await readFile(INSTALLED_REQUIREMENTS, 'utf8') : undefined;
  if (installed !== wanted) return false;
  return (await output(ST, ['--version']))?.includes(`version ${SCHEMATHESIS_VERSION}`) ?? false;
}

/** The `st` of .fuzz/venv, (re)created with the pinned schemathesis when it lacks it or does not run. */
async function ensureSchemathesis(): Promise<string> {
  if (await schemathesisInstalled()) return ST;
  console.log(`fuzz: installing schemathesis ${SCHEMATHESIS_VERSION} into ${relative(ROOT, VENV)}`);
  // Another version, or a venv whose Python has gone: start afresh.
  await rm(VENV, { recursive: true, force: true });
  try {
    await run(PYTHON, ['-m', 'venv', VENV], PYTHON_ENV);
  } catch (error) {
    throw new Error(
      `${PYTHON} -m venv failed (${error instanceof Error ? error.message : String(error)}); on Debian and Ubuntu, install python3-venv (apt-get install python3-venv)`,
    );
  }
  await run(join(VENV, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--requirement', REQUIREMENTS], PYTHON_ENV);
  await copyFile(REQUIREMENTS, INSTALLED_REQUIREMENTS);
  if (!(await schemathesisInstalled()))
    throw new Error(`schemathesis ${SCHEMATHESIS_VERSION} was installed, but ${relative(ROOT, ST)} does not run`);
  return ST;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** --port when given (it must be free), else 8788, else any free port (`npm start` may hold 8787). */
async function choosePort(requested: number | undefined): Promise<number> {
  if (requested !== undefined) {
    if (!(await isPortFree(requested))) throw new Error(`port ${requested} is in use on 127.0.0.1`);
    return requested;
  }
  if (await isPortFree(DEFAULT_PORT)) return DEFAULT_PORT;
  const port = await freePort();
  console.log(`fuzz: port ${DEFAULT_PORT} is in use, using ${port}`);
  return port;
}

/** A fresh D1 with a fuzzing organisation, and a Worker on it; returns the Worker and the organisation's key. */
async function startFuzzWorker(requestedPort: number | undefined): Promise<{ worker: LocalWorker; key: string }> {
  await rm(PERSIST_TO, { recursive: true, force: true });
  await ensureDevVars();
  // wrangler.toml's [assets] directory (public/) is git-ignored: a fresh clone has none until this copy.
  await run(process.execPath, [join(ROOT, 'scripts', 'copy-docs-assets.ts')]);
  await migrateLocal(PERSIST_TO);
  const organization = await bootstrapOrganization({ ...FUZZING_ORGANIZATION, persistTo: PERSIST_TO });
  checkInterrupted();
  const port = await choosePort(requestedPort);
  await mkdir(REPORTS, { recursive: true });
  const log = openSync(WORKER_LOG, 'w');
  try {
    // ignored_auth sends thousands of unauthenticated requests from 127.0.0.1: lifting the per-IP
    // failure limit lets each be answered 401 rather than by the guard's 429 (which the hooks
    // accept as a refusal, for deployments that keep the limit).
    const worker = await startLocalWorker({ port, persistTo: PERSIST_TO, quiet: true, log, vars: { AUTH_FAILURE_LIMIT: '1000000000' } });
    return { worker, key: organization.apiKey };
  } finally {
    closeSync(log);
  }
}

function call(url: string, key: string, path: string): Promise<Response> {
  return fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) }).catch(
    (error: unknown) => {
      throw new Error(`cannot reach ${url} (${error instanceof Error ? error.message : String(error)})`);
    },
  );
}

interface ListedKey {
  id: string;
  prefix: string;
  scopes: string[];
}

/**
 * Checks that `url` is a Switchyard API that takes `key` as a fuzzing organisation's (the
 * `unlimited` plan, whose limits the fuzzer cannot reach, and every scope), and returns the key's
 * id, which the hooks need: the id of each of the organisation's keys listed with its prefix (one,
 * but for a rare collision of the 4 characters after `sy_test_`).
 */
async function inspectDeployment(url: string, key: string): Promise<string[]> {
  const health = await call(url, key, '/health');
  const status = health.ok ? ((await health.json().catch(() => undefined)) as { status?: unknown } | undefined)?.status : undefined;
  if (status !== 'ok')
    throw new Refused(`${url}/health does not answer as Switchyard does (${health.status}): is --url the API's base URL?`);
  const prefix = key.slice(0, 12);
  const ours: ListedKey[] = [];
  let cursor: string | null = null;
  do {
    const response = await call(url, key, `/v1/api-keys?limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    if (response.status === 401)
      throw new Refused(`${url} does not take the key (401): not a key of this deployment, or revoked, or expired`);
    if (response.status === 403)
      throw new Refused('the key lacks the keys:admin scope: a fuzzing organisation’s key has every scope (npm run org:create -- --fuzz)');
    if (response.status !== 200) throw new Error(`GET ${url}/v1/api-keys answered ${response.status}`);
    const policy = response.headers.get('RateLimit-Policy') ?? '';
    if (cursor === null && Number(/"read";q=(\d+)/.exec(policy)?.[1]) !== PLAN_LIMITS.unlimited.read)
      throw new Refused(
        `the key's organisation is not on the unlimited plan, whose limits the fuzzer cannot reach (RateLimit-Policy: ${policy || 'none'}): use a fuzzing organisation (npm run org:create -- --fuzz)`,
      );
    const page = (await response.json()) as { data: ListedKey[]; next_cursor: string | null };
    ours.push(...page.data.filter((listed) => listed.prefix === prefix));
    cursor = page.next_cursor;
  } while (cursor !== null);
  if (ours.length === 0) throw new Error(`the key is not among the organisation's keys at ${url}/v1/api-keys`);
  if (!ours.some((listed) => SCOPES.every((scope) => listed.scopes.includes(scope))))
    throw new Refused(
      `the key lacks scopes the fuzzer needs (${SCOPES.join(', ')}): a fuzzing organisation’s key has them all (npm run org:create -- --fuzz)`,
    );
  return ours.map((listed) => listed.id);
}

function runSchemathesis(st: string, url: string, key: string, keyIds: string[], options: Options): Promise<number> {
  const args = [
    'run',
    SPEC,
    '--url',
    url,
    '--report',
    'junit',
    '--report-junit-path',
    relative(ROOT, options.report),
    ...(options.maxTime !== undefined ? ['--max-time', String(options.maxTime)] : []),
    ...(options.examples !== undefined ? ['--max-examples', String(options.examples)] : []),
    ...(options.seed !== undefined ? ['--seed', options.seed] : []),
  ];
  console.log(`fuzz: st ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    // The hooks keep generated valid requests valid where a schema cannot say how (see the file).
    // The key reaches schemathesis.toml's [auth.openapi.ApiKey] through the environment (never
    // the command line), so schemathesis knows it is the ApiKey scheme and leaves it out when it
    // checks that requests without it get 401.
    const env = {
      ...process.env,
      SWITCHYARD_FUZZ_API_KEY: key,
      SWITCHYARD_FUZZ_KEY_IDS: keyIds.join(','),
      SCHEMATHESIS_HOOKS: join(ROOT, 'scripts', 'schemathesis-hooks.py'),
    };
    const child = spawn(st, args, { cwd: ROOT, env, stdio: 'inherit' });
    schemathesis = child;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      schemathesis = undefined;
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/** Fuzzes the deployment as `key`; returns schemathesis's exit code, made non-zero if the key died during the run. */
async function fuzzDeployment(st: string, url: string, key: string, options: Options): Promise<{ exit: number; keyIds: string[] }> {
  const keyIds = await inspectDeployment(url, key);
  checkInterrupted();
  console.log(`fuzz: ${url}, as key ${keyIds.join(' or ')} of a fuzzing organisation`);
  let exit = await runSchemathesis(st, url, key, keyIds, options);
  if (interrupted) return { exit, keyIds };
  // A run whose key died half-way would have tested nothing after that but 401s.
  const probe = await call(url, key, '/v1/api-keys?limit=1');
  if (probe.status !== 200) {
    console.error(`fuzz: the fuzzing key no longer works (GET /v1/api-keys → ${probe.status}); the run is not trustworthy`);
    exit = exit || 1;
  }
  return { exit, keyIds };
}

/** A kept organisation's key may have been rotated by the run, which then ends its life at the grace period's end: say when. */
async function reportKeyExpiry(url: string, key: string, keyIds: string[]): Promise<void> {
  for (const id of keyIds) {
    const response = await call(url, key, `/v1/api-keys/${id}`);
    const expiresAt = response.ok ? ((await response.json()) as { expires_at: string | null }).expires_at : null;
    if (expiresAt !== null)
      console.log(
        `fuzz: the run rotated key ${id}, which keeps working until ${expiresAt}; fuzz with a new fuzzing organisation after that (npm run org:create -- --fuzz)`,
      );
  }
}

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

/** Counts the report's test cases: one with <failure> or <error> failed, one with <skipped> was skipped. */
function tallyJunit(xml: string): Tally {
  const tally: Tally = { passed: 0, failed: 0, skipped: 0 };
  for (const match of xml.matchAll(/<testcase\b(?:[^>"']|"[^"]*"|'[^']*')*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = match[2] ?? '';
    if (/<(failure|error)\b/.test(body)) tally.failed += 1;
    else if (/<skipped\b/.test(body)) tally.skipped += 1;
    else tally.passed += 1;
  }
  return tally;
}

/** Every file below `dir`. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((entry) => (entry.isDirectory() ? filesBelow(join(dir, entry.name)) : Promise.resolve([join(dir, entry.name)]))),
  );
  return nested.flat();
}

// API-key-shaped text (its checksum then tells a key from, say, a stored prefix that happens to be
// followed by the hash's hex in the same SQLite record), JWT-shaped text, and webhook signing secrets.
const API_KEY_SHAPE = /sy_(?:live|test)_[0-9A-Za-z]{38}/g;
const JWT_SHAPE = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}/;
const WEBHOOK_SECRET_SHAPE = /whsec_[A-Za-z0-9+/]{43}=/;

/**
 * Reads the local D1's files byte for byte (free pages and the WAL included) after the run, which
 * created and rotated keys, minted tokens and made webhook secrets thousands of times: no credential
 * may be in them.
 * Returns the files that hold one.
 */
async function filesHoldingCredentials(fuzzKey: string): Promise<string[]> {
  const files = await filesBelow(join(PERSIST_TO, 'v3', 'd1'));
  if (files.length === 0) throw new Error(`no D1 files under ${relative(ROOT, PERSIST_TO)} to scan`);
  const leaking: string[] = [];
  for (const file of files) {
    const text = (await readFile(file)).toString('latin1');
    const apiKey = [...text.matchAll(API_KEY_SHAPE)].some(([candidate]) => checkApiKeyFormat(candidate) !== undefined);
    if (apiKey || text.includes(fuzzKey.slice(12)) || JWT_SHAPE.test(text) || WEBHOOK_SECRET_SHAPE.test(text)) {
      leaking.push(relative(ROOT, file));
    }
  }
  return leaking;
}

function formatDuration(milliseconds: number): string {
  const seconds = Math.round(milliseconds / 1000);
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}

async function main(options: Options): Promise<number> {
  const started = performance.now();
  const st = await ensureSchemathesis();
  checkInterrupted();
  await rm(options.report, { force: true });
  await mkdir(dirname(options.report), { recursive: true });
  let exit: number;
  if (options.target !== undefined) {
    const { url, key } = options.target;
    const fuzzed = await fuzzDeployment(st, url, key, options);
    exit = fuzzed.exit;
    if (!interrupted) await reportKeyExpiry(url, key, fuzzed.keyIds);
  } else {
    const { worker, key } = await startFuzzWorker(options.port);
    try {
      checkInterrupted();
      console.log(`fuzz: Worker at ${worker.url} (its output: ${relative(ROOT, WORKER_LOG)})`);
      exit = (await fuzzDeployment(st, worker.url, key, options)).exit;
    } finally {
      await worker.stop();
    }
    const leaking = await filesHoldingCredentials(key);
    if (leaking.length > 0) {
      console.error(`fuzz: an API key or token is stored in plain text in ${leaking.join(', ')}`);
      exit = exit || 1;
    } else {
      console.log('fuzz: no API key, token or webhook secret in the local D1 files after the run');
    }
  }
  console.log(`fuzz: finished in ${formatDuration(performance.now() - started)}, schemathesis exited with ${exit}`);
  if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;

  const report = await readFile(options.report, 'utf8').catch(() => undefined);
  if (report === undefined) {
    console.error(`fuzz: schemathesis wrote no report to ${relative(ROOT, options.report)}`);
    return 1;
  }
  const { passed, failed, skipped } = tallyJunit(report);
  console.log(`fuzz: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  return exit !== 0 || failed > 0 ? 1 : 0;
}

try {
  const options = parseOptions();
  if (options === undefined) console.log(USAGE);
  else process.exitCode = await main(options);
} catch (error) {
  if (error instanceof Interrupted) {
    console.error(`fuzz: ${error.message}`);
    process.exitCode = interrupted === 'SIGINT' ? 130 : 143;
  } else if (
    error instanceof UsageError ||
    (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
  ) {
    console.error(`fuzz: ${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (error instanceof Refused) {
    console.error(`fuzz: ${error.message}`);
    process.exitCode = 2;
  } else {
    console.error(`fuzz: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
