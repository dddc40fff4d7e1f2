/**
 * `npm run deploy -- [--env production|staging] [--dry-run] [--cors-origins LIST]`: a deploy that
 * cannot go wrong. In order, and stopping at the first thing that is not right:
 *
 * 1. the environment's CORS_ORIGINS (from wrangler.toml, or `--cors-origins` / $CORS_ORIGINS, which
 *    then ships as a `--var`) passes the Worker's own production check (src/env.ts): the shipped
 *    placeholder is refused here, not discovered as 500s after the deploy;
 * 2. the secrets the Worker refuses to start without exist (`wrangler secret list`);
 * 3. the D1 database exists: a placeholder id is replaced by the id of the database with that name,
 *    created when there is none, and written into wrangler.toml;
 * 4. the webhook queues it produces to and consumes (and their dead-letter queues) exist: those
 *    missing are created;
 * 5. the R2 bucket of organisation exports exists: created when missing (the export Workflow itself
 *    is created by the deploy);
 * 6. the migrations are applied, before the code that needs them;
 * 7. the Worker is deployed, minified.
 *
 * `--dry-run` makes no remote call: it runs the checks that need none (1), says what 2–6 would do,
 * and builds the bundle as step 7 would (`wrangler deploy --dry-run`). CI runs it (npm run test:deploy).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { corsOriginsProblems } from '../src/env.ts';
import { ROOT, WRANGLER_ENV } from './lib/local-worker.ts';

const ENVIRONMENTS = ['production', 'staging'] as const;
type DeployEnvironment = (typeof ENVIRONMENTS)[number];
const REQUIRED_SECRETS = ['SESSION_JWT_SECRET', 'STORAGE_ENCRYPTION_SECRET'];
const PLACEHOLDER_DATABASE_ID = '00000000-0000-0000-0000-000000000000';
const CONFIG_PATH = join(ROOT, 'wrangler.toml');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');

const USAGE = `npm run deploy -- [--env production|staging] [--dry-run] [--cors-origins LIST]

  --env ENV            the wrangler environment to deploy (default production)
  --dry-run            check and build, deploy nothing, call nothing remote
  --cors-origins LIST  the browser origins to allow (comma-separated https origins); default
                       $CORS_ORIGINS, else the environment's CORS_ORIGINS in wrangler.toml`;

class DeployRefused extends Error {}

function wrangler(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(WRANGLER, args, { cwd: ROOT, env: WRANGLER_ENV, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new DeployRefused(`wrangler ${args.join(' ')} failed:\n${stderr || stdout || error.message}`));
      else resolve(stdout);
    });
  });
}

function step(text: string): void {
  console.log(`deploy: ${text}`);
}

function readEnvironment(environment: DeployEnvironment) {
  const config = unstable_readConfig({ config: CONFIG_PATH, env: environment });
  const database = config.d1_databases.find((binding: { binding: string }) => binding.binding === 'DB');
  if (database?.database_name === undefined) throw new DeployRefused(`[env.${environment}] declares no D1 database bound as DB`);
  const queues = new Set<string>([
    ...config.queues.producers.map((producer: { queue: string }) => producer.queue),
    ...config.queues.consumers.flatMap((consumer: { queue: string; dead_letter_queue?: string }) =>
      consumer.dead_letter_queue === undefined ? [consumer.queue] : [consumer.queue, consumer.dead_letter_queue],
    ),
  ]);
  // What an operator charts and alerts on ships with the code (docs/observability.md): never a deploy without it.
  const metrics = config.analytics_engine_datasets.find((binding: { binding: string }) => binding.binding === 'METRICS');
  if (metrics?.dataset === undefined) throw new DeployRefused(`[env.${environment}] declares no Analytics Engine dataset bound as METRICS`);
  const traces = config.observability?.traces;
  const sampling = traces?.head_sampling_rate ?? 1;
  if (traces?.enabled !== true || !(sampling > 0 && sampling <= 1)) {
    throw new DeployRefused(`[env.${environment}.observability.traces] must be enabled with a head_sampling_rate in (0, 1]`);
  }
  step(`metrics to dataset ${metrics.dataset}; traces sampled at ${sampling}`);
  const exportsBucket = config.r2_buckets.find((binding: { binding: string }) => binding.binding === 'EXPORTS');
  if (exportsBucket?.bucket_name === undefined) throw new DeployRefused(`[env.${environment}] declares no R2 bucket bound as EXPORTS`);
  return {
    workerName: config.name,
    vars: config.vars as Record<string, unknown>,
    database: { name: database.database_name, id: database.database_id },
    queues: [...queues].sort(),
    bucket: exportsBucket.bucket_name,
  };
}

function checkOrigins(origins: string, production: boolean): void {
  const problems = corsOriginsProblems(origins, production);
  if (problems.length > 0) {
    throw new DeployRefused(
      `CORS_ORIGINS (${origins || 'empty'}) ${problems.join('; ')}. Set your origins in wrangler.toml or pass --cors-origins.`,
    );
  }
  step(`CORS_ORIGINS ${origins}: passes the production checks`);
}

async function checkSecrets(environment: DeployEnvironment): Promise<void> {
  const listed = JSON.parse(await wrangler(['secret', 'list', '--env', environment, '--format', 'json'])) as { name: string }[];
  const missing = REQUIRED_SECRETS.filter((name) => !listed.some((secret) => secret.name === name));
  if (missing.length > 0) {
    const how = missing.map((name) => `npx wrangler secret put ${name} --env ${environment}`).join('\n  ');
    throw new DeployRefused(`missing secrets: ${missing.join(', ')} (each a random value of at least 32 bytes, all different):\n  ${how}`);
  }
  step(`secrets ${REQUIRED_SECRETS.join(', ')}: set`);
}

/**
 * The database's id, creating the database when there is none of that name, written into the
 * environment's block of wrangler.toml in place of the placeholder (only that line changes).
 */
async function ensureDatabase(environment: DeployEnvironment, database: { name: string; id: string | undefined }): Promise<void> {
  if (database.id !== undefined && database.id !== PLACEHOLDER_DATABASE_ID) {
    step(`D1 ${database.name}: ${database.id}`);
    return;
  }
  const existing = (JSON.parse(await wrangler(['d1', 'list', '--json'])) as { name: string; uuid: string }[]).find(
    (candidate) => candidate.name === database.name,
  );
  let id = existing?.uuid;
  if (id === undefined) {
    const created = await wrangler(['d1', 'create', database.name]);
    id = /"?database_id"?\s*[:=]\s*"([0-9a-f-]{36})"/.exec(created)?.[1];
    if (id === undefined) throw new DeployRefused(`could not read the new database's id from:\n${created}`);
    step(`D1 ${database.name}: created, ${id}`);
  } else {
    step(`D1 ${database.name}: found, ${id}`);
  }
  await writeDatabaseId(environment, database.name, id);
}

/** Creates the queues of the list that the account does not have yet (`wrangler queues info` fails for those). */
async function ensureQueues(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const exists = await wrangler(['queues', 'info', name]).then(
      () => true,
      () => false,
    );
    if (!exists) await wrangler(['queues', 'create', name]);
    step(`queue ${name}: ${exists ? 'found' : 'created'}`);
  }
}

/** Creates the R2 bucket unless the account has it (`wrangler r2 bucket info` fails for one it has not). */
async function ensureBucket(name: string): Promise<void> {
  const exists = await wrangler(['r2', 'bucket', 'info', name]).then(
    () => true,
    () => false,
  );
  if (!exists) await wrangler(['r2', 'bucket', 'create', name]);
  step(`R2 bucket ${name}: ${exists ? 'found' : 'created'}`);
}

async function writeDatabaseId(environment: DeployEnvironment, name: string, id: string): Promise<void> {
  const text = await readFile(CONFIG_PATH, 'utf8');
  const header = `[[env.${environment}.d1_databases]]`;
  const start = text.indexOf(header);
  const end = text.indexOf('\n[', start + header.length);
  const block = text.slice(start, end === -1 ? undefined : end);
  if (start === -1 || !block.includes(`database_name = "${name}"`) || !block.includes(PLACEHOLDER_DATABASE_ID)) {
    throw new DeployRefused(`put database_id = "${id}" into ${header} in wrangler.toml (its placeholder line was not found)`);
  }
  await writeFile(CONFIG_PATH, text.slice(0, start) + block.replace(PLACEHOLDER_DATABASE_ID, id) + text.slice(start + block.length));
  step(`wrangler.toml: ${header} database_id = "${id}" (commit it)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'production' },
      'dry-run': { type: 'boolean', default: false },
      'cors-origins': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const environment = values.env as DeployEnvironment;
  if (!ENVIRONMENTS.includes(environment)) throw new DeployRefused(`--env must be one of ${ENVIRONMENTS.join(', ')}`);
  const dryRun = values['dry-run'];
  const target = readEnvironment(environment);
  step(`${dryRun ? 'dry run: ' : ''}[env.${environment}] → Worker ${target.workerName}`);

  const override = values['cors-origins'] ?? process.env.CORS_ORIGINS;
  const origins = override ?? String(target.vars.CORS_ORIGINS ?? '');
  checkOrigins(origins, target.vars.ENVIRONMENT === 'production');

  const outDir = dryRun ? await mkdtemp(join(tmpdir(), 'switchyard-deploy-')) : undefined;
  try {
    if (dryRun) {
      step(`would check the secrets ${REQUIRED_SECRETS.join(', ')}`);
      step(
        target.database.id === PLACEHOLDER_DATABASE_ID
          ? `would find or create D1 ${target.database.name} and write its id into wrangler.toml`
          : `D1 ${target.database.name}: ${target.database.id}`,
      );
      step(`would create whichever of the queues ${target.queues.join(', ')} does not exist`);
      step(`would create the R2 bucket ${target.bucket} unless it exists`);
      step('would apply the migrations in migrations/ that are not applied yet, before the code');
    } else {
      await checkSecrets(environment);
      await ensureDatabase(environment, target.database);
      await ensureQueues(target.queues);
      await ensureBucket(target.bucket);
      step('applying migrations');
      console.log(await wrangler(['d1', 'migrations', 'apply', 'DB', '--remote', '--env', environment]));
    }
    const deploy = ['deploy', '--env', environment, '--minify', ...(override === undefined ? [] : ['--var', `CORS_ORIGINS:${override}`])];
    if (outDir !== undefined) deploy.push('--dry-run', '--outdir', outDir);
    console.log(await wrangler(deploy));
    step(dryRun ? 'dry run passed: the bundle builds and the checks hold' : `deployed ${target.workerName}`);
  } finally {
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  if (!(error instanceof DeployRefused)) throw error;
  console.error(`deploy: refused: ${error.message}`);
  process.exitCode = 1;
}
