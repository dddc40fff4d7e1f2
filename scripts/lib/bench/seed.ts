/**
 * The benchmark's data, written identically into Switchyard's D1 and the bare-hono reference's:
 * the migrations in migrations/, one organisation with rate limits it cannot reach during a run,
 * one API key, and {@link SEEDED_DEVICES} devices. Rows are built with the Worker's own builders
 * (as scripts/lib/org-bootstrap.ts does) and bound through Miniflare's D1 binding.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { insertApiKeySql, type NewApiKey } from '../../../src/db/api-keys.ts';
import { type DeviceRecord, insertDevice } from '../../../src/db/devices.ts';
import { insertOrganizationSql, newOrganization } from '../../../src/db/organizations.ts';
import { generateApiKey } from '../../../src/lib/api-key.ts';
import { nowIso } from '../../../src/lib/clock.ts';
import { newId } from '../../../src/lib/ids.ts';
import { DEVICE_KINDS } from '../../../src/schemas/devices.ts';
import { SCOPES } from '../../../src/schemas/scopes.ts';
import { ROOT } from '../local-worker.ts';

export const SEEDED_DEVICES = 200;
/** Requests per minute per route class: far beyond what a run can send, so no request is ever limited. */
export const UNREACHABLE_LIMIT = 1_000_000_000;

/** Seeded devices sort before anything created during the run, so a list always pages the same rows. */
const SEED_EPOCH = Date.parse('2026-01-01T00:00:00.000Z');

export interface Seed {
  orgId: string;
  keyId: string;
  apiKey: string;
  statements: Array<{ sql: string; params: Array<string | number | null> }>;
  devices: DeviceRecord[];
}

export async function createSeed(): Promise<Seed> {
  const org = newOrganization('Benchmark organisation', 'enterprise');
  const generated = await generateApiKey('live');
  const key: NewApiKey = {
    id: newId('apiKey'),
    orgId: org.id,
    name: 'Benchmark key',
    mode: 'live',
    prefix: generated.prefix,
    hash: generated.hash,
    scopes: [...SCOPES],
    expiresAt: null,
    createdAt: nowIso(),
    createdBy: null,
    lastUsedAt: null,
    rotatedTo: null,
  };
  const devices = Array.from({ length: SEEDED_DEVICES }, (_, index): DeviceRecord => {
    const at = new Date(SEED_EPOCH + index * 1000).toISOString();
    return {
      id: newId('device'),
      orgId: org.id,
      name: `Benchmark device ${index + 1}`,
      kind: DEVICE_KINDS[index % DEVICE_KINDS.length] ?? 'other',
      externalId: `bench-${index + 1}`,
      metadata: { floor: index % 12, model: 'Pixel 9', kiosk: index % 2 === 0 },
      tags: ['bench', `group:${index % 8}`],
      status: 'active',
      lastSeenAt: null,
      createdAt: at,
      updatedAt: at,
      version: 1,
    };
  });
  return {
    orgId: org.id,
    keyId: key.id,
    apiKey: generated.secret,
    statements: [
      insertOrganizationSql(org),
      {
        sql: 'UPDATE organizations SET rate_limit_read = ?2, rate_limit_write = ?2, rate_limit_token = ?2 WHERE id = ?1',
        params: [org.id, UNREACHABLE_LIMIT],
      },
      insertApiKeySql(key),
    ],
    devices,
  };
}

/** SQL statements of a migration file: comments removed, split at semicolons outside string literals. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let inString = false;
  for (let index = 0; index < sql.length; index += 1) {
    const char = sql[index] as string;
    if (inString) {
      current += char;
      if (char === "'") inString = false;
    } else if (char === "'") {
      inString = true;
      current += char;
    } else if (char === '-' && sql[index + 1] === '-') {
      while (index < sql.length && sql[index] !== '\n') index += 1;
      current += '\n';
    } else if (char === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/** Applies migrations/*.sql in order, recording them in d1_migrations as wrangler does, then the seed rows. */
export async function applySeed(db: D1Database, seed: Seed): Promise<void> {
  const directory = join(ROOT, 'migrations');
  const files = (await readdir(directory)).filter((file) => file.endsWith('.sql')).sort();
  const migration: D1PreparedStatement[] = [
    db.prepare(
      'CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)',
    ),
  ];
  for (const file of files) {
    for (const statement of splitStatements(await readFile(join(directory, file), 'utf8'))) migration.push(db.prepare(statement));
    migration.push(db.prepare('INSERT INTO d1_migrations (name) VALUES (?1)').bind(file));
  }
  await db.batch(migration);
  await db.batch([
    ...seed.statements.map(({ sql, params }) => db.prepare(sql).bind(...params)),
    ...seed.devices.map((device) => insertDevice(db, device)),
  ]);
}
