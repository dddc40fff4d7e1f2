/**
 * `npm run fuzz`: fuzzes the API with schemathesis (every check, every phase, as configured in
 * schemathesis.toml) against a local Worker on a fresh D1, as CI does. Installs the pinned
 * schemathesis through pipx when it is missing, writes a JUnit report to reports/fuzz-junit.xml and
 * the Worker's output to reports/fuzz-worker.log, stops the Worker whatever happens, and exits
 * non-zero on any failure. The last line is `fuzz: N passed, N failed`, counted from the report.
 *
 *   node scripts/fuzz.ts
 *   FUZZ_PORT=8790 FUZZ_MAX_TIME=60 node scripts/fuzz.ts   (port, and time budget in seconds)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, join, relative } from 'node:path';
import { checkApiKeyFormat } from '../src/lib/api-key.ts';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, type LocalWorker, migrateLocal, ROOT, run, startLocalWorker } from './lib/local-worker.ts';
import { bootstrapOrganization } from './lib/org-bootstrap.ts';

const SCHEMATHESIS_VERSION = '4.32.5';
const SPEC = 'openapi/openapi.json';
const DEFAULT_PORT = 8788;
const PERSIST_TO = join(ROOT, '.fuzz', 'state');
const REPORTS = join(ROOT, 'reports');
const JUNIT_REPORT = join(REPORTS, 'fuzz-junit.xml');
const WORKER_LOG = join(REPORTS, 'fuzz-worker.log');

const PYTHON = 'python3';
const PYTHON_ENV = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' };

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

function envInteger(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be an integer from ${min} to ${max}, got ${raw}`);
    process.exit(2);
  }
  return value;
}

const requestedPort = envInteger('FUZZ_PORT', undefined, 1, 65535);
const maxTime = envInteger('FUZZ_MAX_TIME', undefined, 1, 3600);

/** stdout of a command, or undefined when it cannot be run or fails. */
function output(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, env: PYTHON_ENV, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
      resolve(error ? undefined : stdout),
    );
  });
}

/** How to run pipx here: `python3 -m pipx` (pip's install) or `pipx` (a system package). */
async function findPipx(): Promise<string[] | undefined> {
  for (const command of [[PYTHON, '-m', 'pipx'], ['pipx']]) {
    const [program = '', ...args] = command;
    if ((await output(program, [...args, '--version'])) !== undefined) return command;
  }
  return undefined;
}

interface PipxListing {
  venvs?: Record<string, { metadata?: { main_package?: { package_version?: string; app_paths?: Array<{ __Path__?: string }> } } }>;
}

/**
 * The `st` of pipx's schemathesis venv when it is the pinned version and runs. Taken from
 * `pipx list --json` rather than from PATH: pipx's bin directory (PIPX_BIN_DIR, ~/.local/bin by
 * default) is often not on PATH, and another `st` there may be another version.
 */
async function installedSchemathesis(pipx: string[]): Promise<string | undefined> {
  const [program = '', ...args] = pipx;
  const listing = await output(program, [...args, 'list', '--json']);
  if (listing === undefined) return undefined;
  let appPaths: string[];
  try {
    const main = (JSON.parse(listing) as PipxListing).venvs?.schemathesis?.metadata?.main_package;
    if (main?.package_version !== SCHEMATHESIS_VERSION) return undefined;
    appPaths = (main.app_paths ?? []).flatMap((entry) => (entry.__Path__ ? [entry.__Path__] : []));
  } catch {
    return undefined;
  }
  const st = appPaths.find((path) => basename(path) === 'st');
  if (st === undefined) return undefined;
  const version = await output(st, ['--version']);
  return version?.includes(`version ${SCHEMATHESIS_VERSION}`) ? st : undefined;
}

/** Installs pipx (when missing) and the pinned schemathesis (when not already there); returns its `st`. */
async function ensureSchemathesis(): Promise<string> {
  let pipx = await findPipx();
  if (pipx === undefined) {
    // root installs into the interpreter itself; anyone else into their user site (~/.local).
    const userFlag = process.getuid?.() === 0 ? [] : ['--user'];
    console.log(`fuzz: installing pipx (${PYTHON} -m pip install ${[...userFlag, 'pipx'].join(' ')})`);
    await run(PYTHON, ['-m', 'pip', 'install', ...userFlag, 'pipx'], PYTHON_ENV);
    pipx = await findPipx();
    if (pipx === undefined) throw new Error(`pipx was installed but \`${PYTHON} -m pipx --version\` does not run`);
  }
  const found = await installedSchemathesis(pipx);
  if (found !== undefined) return found;
  console.log(`fuzz: installing schemathesis ${SCHEMATHESIS_VERSION} with pipx`);
  const [program = '', ...args] = pipx;
  // --force replaces another version or a broken venv; without it pipx keeps whatever is there.
  await run(program, [...args, 'install', '--force', `schemathesis==${SCHEMATHESIS_VERSION}`], PYTHON_ENV);
  const installed = await installedSchemathesis(pipx);
  if (installed === undefined) throw new Error(`pipx installed schemathesis ${SCHEMATHESIS_VERSION}, but its \`st\` does not run`);
  return installed;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

/** FUZZ_PORT when set (it must be free), else 8788, else any free port (`npm start` may hold 8787). */
async function choosePort(): Promise<number> {
  if (requestedPort !== undefined) {
    if (!(await isPortFree(requestedPort))) throw new Error(`FUZZ_PORT ${requestedPort} is in use on 127.0.0.1`);
    return requestedPort;
  }
  if (await isPortFree(DEFAULT_PORT)) return DEFAULT_PORT;
  const port = await anyFreePort();
  console.log(`fuzz: port ${DEFAULT_PORT} is in use, using ${port}`);
  return port;
}

function runSchemathesis(st: string, url: string, fuzzKey: { orgId: string; id: string; secret: string }): Promise<number> {
  const args = [
    'run',
    SPEC,
    '--url',
    url,
    '--report',
    'junit',
    '--report-junit-path',
    relative(ROOT, JUNIT_REPORT),
    ...(maxTime !== undefined ? ['--max-time', String(maxTime)] : []),
  ];
  console.log(`fuzz: st ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    // The hooks keep generated valid requests valid where a schema cannot say how (see the file).
    // The fuzzing organisation's key reaches schemathesis.toml's [auth.openapi.ApiKey] through the
    // environment (never the command line), so schemathesis knows it is the ApiKey scheme and
    // leaves it out when it checks that requests without it get 401.
    const env = {
      ...process.env,
      SWITCHYARD_FUZZ_API_KEY: fuzzKey.secret,
      SCHEMATHESIS_HOOKS: join(ROOT, 'scripts', 'schemathesis-hooks.py'),
      SWITCHYARD_FUZZ_KEY_ID: fuzzKey.id,
      SWITCHYARD_FUZZ_ORG_ID: fuzzKey.orgId,
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
// followed by the hash's hex in the same SQLite record), and JWT-shaped text.
const API_KEY_SHAPE = /sy_(?:live|test)_[0-9A-Za-z]{38}/g;
const JWT_SHAPE = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}/;

/**
 * Reads the local D1's files byte for byte (free pages and the WAL included) after the run, which
 * created and rotated keys and minted tokens thousands of times: no credential may be in them.
 * Returns the files that hold one.
 */
async function filesHoldingCredentials(fuzzKey: string): Promise<string[]> {
  const files = await filesBelow(join(PERSIST_TO, 'v3', 'd1'));
  if (files.length === 0) throw new Error(`no D1 files under ${relative(ROOT, PERSIST_TO)} to scan`);
  const leaking: string[] = [];
  for (const file of files) {
    const text = (await readFile(file)).toString('latin1');
    const apiKey = [...text.matchAll(API_KEY_SHAPE)].some(([candidate]) => checkApiKeyFormat(candidate) !== undefined);
    if (apiKey || text.includes(fuzzKey.slice(12)) || JWT_SHAPE.test(text)) leaking.push(relative(ROOT, file));
  }
  return leaking;
}

function formatDuration(milliseconds: number): string {
  const seconds = Math.round(milliseconds / 1000);
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}

async function main(): Promise<number> {
  const started = performance.now();
  let worker: LocalWorker | undefined;
  let schemathesisExit: number;
  let fuzzOrg: Awaited<ReturnType<typeof bootstrapOrganization>>;
  try {
    const st = await ensureSchemathesis();
    checkInterrupted();
    await Promise.all([rm(PERSIST_TO, { recursive: true, force: true }), rm(JUNIT_REPORT, { force: true })]);
    await mkdir(REPORTS, { recursive: true });
    await ensureDevVars();
    // wrangler.toml's [assets] directory (public/) is git-ignored: a fresh clone has none until this copy.
    await run(process.execPath, [join(ROOT, 'scripts', 'copy-docs-assets.ts')]);
    await migrateLocal(PERSIST_TO);
    // Limits the fuzzer cannot reach: a 429 on valid input would fail positive_data_acceptance.
    // 429 itself is tested on its own (test/middleware/rate-limit.test.ts).
    fuzzOrg = await bootstrapOrganization({
      name: 'Fuzzing',
      scopes: [...SCOPES],
      plan: 'unlimited',
      mode: 'test',
      persistTo: PERSIST_TO,
    });
    checkInterrupted();
    const port = await choosePort();
    const log = openSync(WORKER_LOG, 'w');
    try {
      // ignored_auth sends thousands of unauthenticated requests from 127.0.0.1: lift the per-IP failure limit too.
      worker = await startLocalWorker({ port, persistTo: PERSIST_TO, quiet: true, log, vars: { AUTH_FAILURE_LIMIT: '1000000000' } });
    } finally {
      closeSync(log);
    }
    checkInterrupted();
    console.log(`fuzz: Worker at ${worker.url} (its output: ${relative(ROOT, WORKER_LOG)})`);
    schemathesisExit = await runSchemathesis(st, worker.url, { orgId: fuzzOrg.orgId, id: fuzzOrg.keyId, secret: fuzzOrg.apiKey });
    // A run whose key died half-way would have tested nothing after that but 401s.
    const probe = await fetch(`${worker.url}/v1/api-keys?limit=1`, { headers: { Authorization: `Bearer ${fuzzOrg.apiKey}` } });
    if (probe.status !== 200) {
      console.error(`fuzz: the fuzzing key no longer works (GET /v1/api-keys → ${probe.status}); the run is not trustworthy`);
      schemathesisExit = schemathesisExit || 1;
    }
  } finally {
    await worker?.stop();
  }
  const leaking = await filesHoldingCredentials(fuzzOrg.apiKey);
  if (leaking.length > 0) {
    console.error(`fuzz: an API key or token is stored in plain text in ${leaking.join(', ')}`);
    schemathesisExit = schemathesisExit || 1;
  } else {
    console.log('fuzz: no API key or token in the local D1 files after the run');
  }
  console.log(`fuzz: finished in ${formatDuration(performance.now() - started)}, schemathesis exited with ${schemathesisExit}`);
  if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;

  const report = await readFile(JUNIT_REPORT, 'utf8').catch(() => undefined);
  if (report === undefined) {
    console.error(`fuzz: schemathesis wrote no report to ${relative(ROOT, JUNIT_REPORT)}`);
    return 1;
  }
  const { passed, failed, skipped } = tallyJunit(report);
  console.log(`fuzz: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  return schemathesisExit !== 0 || failed > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof Interrupted) {
    console.error(`fuzz: ${error.message}`);
    process.exitCode = interrupted === 'SIGINT' ? 130 : 143;
  } else {
    console.error(`fuzz: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
