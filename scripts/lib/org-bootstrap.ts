/**
 * Creates an organisation and its first key straight in D1 through `wrangler d1 execute` (local
 * by default, or --remote), using the Worker's own row builders, so the key is exactly what the
 * API would have issued. Shared by `npm run org:create`, `npm start` (the demo organisation) and
 * `npm run fuzz` (a fuzzing organisation).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertApiKeySql, type NewApiKey } from '../../src/db/api-keys.ts';
import { insertOrganizationSql, newOrganization } from '../../src/db/organizations.ts';
import { generateApiKey, type KeyMode } from '../../src/lib/api-key.ts';
import { nowIso } from '../../src/lib/clock.ts';
import { newId } from '../../src/lib/ids.ts';
import type { Plan } from '../../src/schemas/plans.ts';
import { SCOPES, type Scope } from '../../src/schemas/scopes.ts';
import { ROOT, WRANGLER_ENV } from './local-worker.ts';

const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');

export interface BootstrapOptions {
  name: string;
  scopes: Scope[];
  plan: Plan;
  mode: KeyMode;
  isDemo?: boolean;
  /** Run against the deployed database instead of the local one. */
  remote?: boolean;
  /** wrangler's --persist-to for local runs. */
  persistTo?: string;
  /** wrangler's --env. */
  environment?: string;
}

/**
 * An organisation to fuzz: `npm run fuzz` makes one for its local Worker, `npm run org:create --
 * --fuzz` for a deployment. Every scope, so that every route is reached; the `unlimited` plan,
 * since a 429 on valid input would fail positive_data_acceptance (429 itself is tested on its own,
 * test/middleware/rate-limit.test.ts); a test-mode key, the only kind `npm run fuzz` takes.
 */
export const FUZZING_ORGANIZATION: Pick<BootstrapOptions, 'name' | 'scopes' | 'plan' | 'mode'> = {
  name: 'Fuzzing',
  scopes: [...SCOPES],
  plan: 'unlimited',
  mode: 'test',
};

export interface Bootstrapped {
  orgId: string;
  keyId: string;
  apiKey: string;
}

/** An SQLite literal. Strings are quoted with '' doubling, the only escape SQLite string literals have. */
function literal(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (value.includes('\u0000')) throw new Error('NUL characters are not allowed');
  return `'${value.replaceAll("'", "''")}'`;
}

/** Inlines `?N` parameters (wrangler d1 execute takes no bind values). The SQL text itself holds no `?` in literals. */
function inline(sql: string, params: ReadonlyArray<string | number | null>): string {
  return sql.replace(/\?(\d+)/g, (_, index: string) => {
    const value = params[Number(index) - 1];
    if (value === undefined) throw new Error(`no parameter ?${index}`);
    return literal(value);
  });
}

export function wranglerD1(args: string[], options: Pick<BootstrapOptions, 'remote' | 'persistTo' | 'environment'>): Promise<string> {
  const location = options.remote ? ['--remote'] : ['--local', ...(options.persistTo ? ['--persist-to', options.persistTo] : [])];
  const environment = options.environment ? ['--env', options.environment] : [];
  return new Promise((resolve, reject) => {
    execFile(
      WRANGLER,
      ['d1', 'execute', 'DB', ...location, ...environment, ...args],
      { cwd: ROOT, env: WRANGLER_ENV, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`wrangler d1 execute failed: ${stderr || stdout || error.message}`)) : resolve(stdout),
    );
  });
}

export async function bootstrapOrganization(options: BootstrapOptions): Promise<Bootstrapped> {
  const org = newOrganization(options.name, options.plan, options.isDemo ?? false);
  const generated = await generateApiKey(options.mode);
  const key: NewApiKey = {
    id: newId('apiKey'),
    orgId: org.id,
    name: `${options.name} admin`.slice(0, 100),
    mode: options.mode,
    prefix: generated.prefix,
    hash: generated.hash,
    scopes: options.scopes,
    expiresAt: null,
    createdAt: nowIso(),
    createdBy: null,
    lastUsedAt: null,
    rotatedTo: null,
  };
  const statements = [insertOrganizationSql(org), insertApiKeySql(key)].map(({ sql, params }) => `${inline(sql, params)};`);
  const directory = await mkdtemp(join(tmpdir(), 'switchyard-bootstrap-'));
  try {
    const file = join(directory, 'bootstrap.sql');
    await writeFile(file, `${statements.join('\n')}\n`, { mode: 0o600 });
    await wranglerD1(['--file', file, ...(options.remote ? ['--yes'] : [])], options);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  return { orgId: org.id, keyId: key.id, apiKey: generated.secret };
}

/** Whether a key with this id is still in the (local) database and not revoked. */
export async function keyExists(keyId: string, options: Pick<BootstrapOptions, 'remote' | 'persistTo' | 'environment'>): Promise<boolean> {
  if (!/^key_[0-9A-Za-z]{22}$/.test(keyId)) return false;
  const output = await wranglerD1(['--json', '--command', `SELECT id FROM api_keys WHERE id = '${keyId}' AND revoked_at IS NULL`], options);
  return output.includes(keyId);
}
