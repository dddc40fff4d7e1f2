/**
 * `npm start`: copies the docs bundle into public/, migrates the local D1, seeds the
 * demo organisation once, starts the Worker on 127.0.0.1 (port 8787, or $PORT) and prints where
 * everything is and the demo key. Ctrl-C stops it.
 *
 * Then one readable line per request (scripts/lib/dev-output.ts says what of wrangler's output is
 * dropped, and that no error is). `npm start -- --raw`, or SWITCHYARD_LOG=json, shows wrangler's
 * output as it comes instead, the Worker's JSON lines included.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SCOPES } from '../src/schemas/scopes.ts';
import { devOutputFilter } from './lib/dev-output.ts';
import { ensureDevVars, type LocalWorker, migrateLocal, ROOT, run, startLocalWorker } from './lib/local-worker.ts';
import { bootstrapOrganization, keyExists } from './lib/org-bootstrap.ts';

const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`PORT must be a TCP port number, got ${process.env.PORT}`);
  process.exit(2);
}
const logMode = process.argv.includes('--raw') ? 'json' : (process.env.SWITCHYARD_LOG ?? 'pretty');
if (logMode !== 'json' && logMode !== 'pretty') {
  console.error(`SWITCHYARD_LOG must be pretty (the default) or json, got ${logMode}`);
  process.exit(2);
}
const persistTo = join(ROOT, '.wrangler', 'state');
const demoFile = join(persistTo, 'demo-key.json');

interface DemoKey {
  org_id: string;
  key_id: string;
  api_key: string;
}

/** The demo organisation's key: created on the first start, reused after (its keys are refused in production). */
async function demoKey(): Promise<DemoKey> {
  if (existsSync(demoFile)) {
    const saved = JSON.parse(await readFile(demoFile, 'utf8')) as DemoKey;
    if (await keyExists(saved.key_id, { persistTo })) return saved;
  }
  const created = await bootstrapOrganization({
    name: 'Demo organisation',
    scopes: [...SCOPES],
    plan: 'pro',
    mode: 'test',
    isDemo: true,
    persistTo,
  });
  const saved = { org_id: created.orgId, key_id: created.keyId, api_key: created.apiKey };
  await writeFile(demoFile, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  return saved;
}

// Every way this process is asked to stop also stops the Worker it started: wrangler runs in a
// process group of its own (so that stop() reaches workerd too), which no signal to us reaches.
let worker: LocalWorker | undefined;
let stopping = false;
function shutDown(): void {
  stopping = true;
  // While starting, the Worker may be spawning with no handle yet: stopped as soon as it has one (below).
  if (worker !== undefined) void worker.stop().then(() => process.exit(0));
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, shutDown);
// npm does not pass a SIGTERM sent to it alone (by a supervisor) on to this process: it exits and
// leaves this one running. Being adopted by another parent is how this process learns of it.
const parentAtStart = process.ppid;
setInterval(() => {
  if (process.ppid !== parentAtStart) shutDown();
}, 500).unref();
// Exiting any other way (an error below): no time for a graceful stop, but the group still gets its signal.
process.on('exit', () => worker?.signal());

// Here rather than as `npm run assets &&` in package.json: npm then runs this process directly, and
// the signals a supervisor sends `npm start` reach it (a shell in between would not pass them on).
await run(process.execPath, [join(ROOT, 'scripts', 'copy-docs-assets.ts')]);
await ensureDevVars();
await migrateLocal(persistTo);
const demo = await demoKey();
let ready = false;
// A closed stdout (`npm start | head`) is a reason to stop, not a crash that leaves the Worker running.
for (const stream of [process.stdout, process.stderr]) stream.on('error', shutDown);
const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const log =
  logMode === 'json'
    ? ('inherit' as const)
    : devOutputFilter({
        write: (line, stream) => (stream === 'stderr' ? process.stderr : process.stdout).write(`${line}\n`),
        color,
        ready: () => ready,
      });
// At wrangler's `log` level the Worker's own console.log lines (its info-level request lines) show.
worker = await startLocalWorker({ port, persistTo, log, wranglerLog: 'log' });
ready = true;
if (stopping) {
  await worker.stop();
  process.exit(0);
}

console.log(`
  Switchyard is running.
    API:        ${worker.url}
    Reference:  ${worker.url}/docs
    OpenAPI:    ${worker.url}/openapi.json
    Health:     ${worker.url}/health   Ready: ${worker.url}/ready

  Demo organisation ${demo.org_id}, API key (all scopes, local only):
    ${demo.api_key}

  Try:  curl -H "Authorization: Bearer ${demo.api_key}" ${worker.url}/v1/api-keys
  Cron: curl ${worker.url}/cdn-cgi/local/scheduled   runs the hourly retention job now
  ${logMode === 'json' ? "wrangler's output as it comes" : 'One line per request below (`npm start -- --raw` for the raw JSON)'}. Press Ctrl-C to stop.
`);
