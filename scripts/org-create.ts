/**
 * `npm run org:create -- --name NAME [--scopes a,b] [--plan P] [--mode live|test] [--json] [--remote] [--env E]`
 * `npm run org:create -- --fuzz [--url URL] [--json] [--remote --env E]`
 *
 * Creates an organisation and its first admin key, and prints the key once. Local D1 by default
 * (the same database `npm start` uses); --remote writes to the deployed database. With --json,
 * the last line is {"org_id": "...", "api_key": "..."}.
 *
 * --fuzz creates a fuzzing organisation instead (every scope, plan unlimited, a test-mode key:
 * FUZZING_ORGANIZATION) and prints the `npm run fuzz` command that fuzzes the deployment as it,
 * for the deployment at --url (default `npm start`'s, http://127.0.0.1:8787). It refuses
 * production's database: the fuzzer creates and destroys data (docs/fuzzing.md).
 */

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PLAN_LIMITS } from '../src/db/organizations.ts';
import type { KeyMode } from '../src/lib/api-key.ts';
import type { Plan } from '../src/schemas/plans.ts';
import { SCOPES, type Scope } from '../src/schemas/scopes.ts';
import { ROOT } from './lib/local-worker.ts';
import { type BootstrapOptions, bootstrapOrganization, FUZZING_ORGANIZATION } from './lib/org-bootstrap.ts';

const LOCAL_URL = 'http://127.0.0.1:8787';
const PLACEHOLDER_DATABASE_ID = '00000000-0000-0000-0000-000000000000';

function fail(message: string): never {
  console.error(`org:create: ${message}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    scopes: { type: 'string' },
    plan: { type: 'string' },
    mode: { type: 'string' },
    fuzz: { type: 'boolean', default: false },
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
    remote: { type: 'boolean', default: false },
    env: { type: 'string' },
    'persist-to': { type: 'string' },
  },
  strict: true,
});

/** The D1 database an environment binds as DB (the top level's when `environment` is undefined), and its Worker's name. */
async function databaseOf(environment: string | undefined): Promise<{ name?: string; id?: string; workerName: string }> {
  // Only --fuzz reads wrangler.toml: loading wrangler takes ~2 s.
  const { unstable_readConfig } = await import('wrangler');
  const config = unstable_readConfig({ config: join(ROOT, 'wrangler.toml'), env: environment });
  const database = config.d1_databases.find((binding: { binding: string }) => binding.binding === 'DB');
  return { name: database?.database_name, id: database?.database_id, workerName: config.name ?? 'switchyard' };
}

/** What a fuzzing organisation is, checked against where it would go: never production's database. */
async function fuzzingOrganization(): Promise<Pick<BootstrapOptions, 'name' | 'scopes' | 'plan' | 'mode'>> {
  const given = (['scopes', 'plan', 'mode'] as const).filter((option) => values[option] !== undefined);
  if (given.length > 0)
    fail(`--fuzz sets ${given.map((option) => `--${option}`).join(', ')} itself: every scope, plan unlimited, a test-mode key`);
  if (values.remote) {
    if (values.env === undefined || values.env === 'production')
      fail('--fuzz --remote needs --env with a deployment of its own, e.g. --env staging: never production');
    const target = await databaseOf(values.env);
    const production = await databaseOf('production');
    const sameId = target.id !== undefined && target.id !== PLACEHOLDER_DATABASE_ID && target.id === production.id;
    if (target.name === production.name || sameId)
      fail(`[env.${values.env}] uses production's D1 database (${production.name}): refusing to fuzz it`);
  }
  const name = values.name?.trim() || FUZZING_ORGANIZATION.name;
  if (name.length > 100) fail('--name must be 1–100 characters');
  return { ...FUZZING_ORGANIZATION, name };
}

/** The base URL the printed `npm run fuzz` command names: --url, else where the deployment most likely is. */
async function fuzzUrl(): Promise<{ url: string; guessed: boolean }> {
  if (values.url !== undefined) return { url: values.url.replace(/\/+$/, ''), guessed: false };
  if (!values.remote) return { url: LOCAL_URL, guessed: false };
  return { url: `https://${(await databaseOf(values.env)).workerName}.<your-subdomain>.workers.dev`, guessed: true };
}

function requestedOrganization(): Pick<BootstrapOptions, 'name' | 'scopes' | 'plan' | 'mode'> {
  if (values.url !== undefined) fail('--url only goes with --fuzz');
  const name = values.name?.trim();
  if (!name || name.length > 100) fail('--name is required, 1–100 characters');
  const scopes = (values.scopes ?? SCOPES.join(','))
    .split(',')
    .map((scope) => scope.trim())
    .filter(Boolean);
  const unknown = scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
  if (scopes.length === 0 || unknown.length > 0)
    fail(`--scopes must be a comma-separated list of: ${SCOPES.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
  const plan = values.plan ?? 'free';
  if (!(plan in PLAN_LIMITS)) fail(`--plan must be one of: ${Object.keys(PLAN_LIMITS).join(', ')}`);
  const mode = values.mode ?? 'live';
  if (mode !== 'live' && mode !== 'test') fail('--mode must be live or test');
  return { name, scopes: scopes as Scope[], plan: plan as Plan, mode: mode as KeyMode };
}

const organization = values.fuzz ? await fuzzingOrganization() : requestedOrganization();
const fuzz = values.fuzz ? await fuzzUrl() : undefined;

const created = await bootstrapOrganization({
  ...organization,
  remote: values.remote,
  persistTo: values.remote ? undefined : (values['persist-to'] ?? join(ROOT, '.wrangler', 'state')),
  environment: values.env,
});

if (fuzz !== undefined) {
  const command = `npm run fuzz -- --url ${fuzz.url} --key ${created.apiKey}`;
  if (values.json) {
    console.log(JSON.stringify({ org_id: created.orgId, api_key: created.apiKey, fuzz_command: command }));
  } else {
    console.log(`Created fuzzing organisation ${created.orgId} (${organization.name}, plan ${organization.plan}).`);
    console.log(`Its test-mode admin key ${created.keyId} is shown only here. Fuzz the deployment as it with:\n\n  ${command}\n`);
    if (fuzz.guessed) console.log("Put the deployment's own URL in it (or pass --url to org:create).");
  }
} else if (values.json) {
  console.log(JSON.stringify({ org_id: created.orgId, api_key: created.apiKey }));
} else {
  console.log(`Created organisation ${created.orgId} (${organization.name}, plan ${organization.plan}).`);
  console.log(`Its admin key ${created.keyId} — shown once, store it now:\n\n  ${created.apiKey}\n`);
}
