/**
 * Organisations and keys for tests, written straight to the real D1 with the same db functions
 * the bootstrap script uses (so no API call is needed to get the first key).
 */
import { env } from 'cloudflare:workers';
import { insertApiKey, type NewApiKey } from '../../src/db/api-keys.ts';
import { insertOrganization, newOrganization } from '../../src/db/organizations.ts';
import { generateApiKey, type KeyMode } from '../../src/lib/api-key.ts';
import { isoAfter, nowIso } from '../../src/lib/clock.ts';
import { newId } from '../../src/lib/ids.ts';
import type { Plan } from '../../src/schemas/plans.ts';
import { SCOPES, type Scope } from '../../src/schemas/scopes.ts';
import { apiClient } from './worker.ts';

export interface KeyOptions {
  scopes?: readonly Scope[];
  mode?: KeyMode;
  /** Milliseconds from now; negative for an already expired key. */
  expiresInMs?: number;
  revoked?: boolean;
  name?: string;
}

export interface TestKey {
  id: string;
  secret: string;
}

export interface Tenant {
  orgId: string;
  key: TestKey;
  /** The generated client, authenticated with `key`. */
  api: ReturnType<typeof apiClient>;
  addKey(options?: KeyOptions): Promise<TestKey>;
  setLimits(limits: Partial<{ read: number; write: number; token: number }>): Promise<void>;
}

async function addKey(orgId: string, options: KeyOptions = {}): Promise<TestKey> {
  const mode = options.mode ?? 'test';
  const generated = await generateApiKey(mode);
  const now = nowIso();
  const key: NewApiKey = {
    id: newId('apiKey'),
    orgId,
    name: options.name ?? 'test key',
    mode,
    prefix: generated.prefix,
    hash: generated.hash,
    scopes: [...(options.scopes ?? SCOPES)],
    expiresAt: options.expiresInMs === undefined ? null : isoAfter(options.expiresInMs),
    createdAt: now,
    createdBy: null,
    lastUsedAt: null,
    rotatedTo: null,
  };
  await insertApiKey(env.DB, key).run();
  if (options.revoked) await env.DB.prepare('UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1').bind(key.id, now).run();
  return { id: key.id, secret: generated.secret };
}

export async function createTenant(options: KeyOptions & { plan?: Plan; isDemo?: boolean } = {}): Promise<Tenant> {
  const org = newOrganization('Test org', options.plan ?? 'unlimited', options.isDemo ?? false);
  await insertOrganization(env.DB, org).run();
  const key = await addKey(org.id, options);
  return {
    orgId: org.id,
    key,
    api: apiClient({ apiKey: key.secret }),
    addKey: (keyOptions) => addKey(org.id, keyOptions),
    async setLimits(limits) {
      await env.DB.prepare(
        `UPDATE organizations SET rate_limit_read = COALESCE(?2, rate_limit_read), rate_limit_write = COALESCE(?3, rate_limit_write),
                rate_limit_token = COALESCE(?4, rate_limit_token) WHERE id = ?1`,
      )
        .bind(org.id, limits.read ?? null, limits.write ?? null, limits.token ?? null)
        .run();
    },
  };
}
