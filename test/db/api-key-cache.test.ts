/**
 * The per-isolate API-key cache. Revocation through this isolate is covered in api-keys.test.ts
 * (the key is used, revoked, and refused at once); here, a change made elsewhere — another
 * isolate, or SQL by hand — written straight to D1 as it would be, against the documented bound.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { credentialsFor, forgetKey, KEY_CACHE_REFRESH_MS, KEY_CACHE_TTL_MS } from '../../src/db/api-key-cache.ts';
import { hashApiKey } from '../../src/lib/api-key.ts';
import { createTenant } from '../helpers/tenants.ts';

async function revokeElsewhere(keyId: string) {
  await env.DB.prepare('UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1').bind(keyId, new Date().toISOString()).run();
}

/** Collects the background refreshes the cache hands over, as ctx.waitUntil would. */
function backgroundWork() {
  const started: Promise<unknown>[] = [];
  return { later: (work: Promise<unknown>) => void started.push(work), started, settled: () => Promise.all(started) };
}

describe('API-key cache', () => {
  it('documents a 30 s bound', () => {
    expect(KEY_CACHE_TTL_MS).toBe(30_000);
    expect(KEY_CACHE_REFRESH_MS).toBeLessThan(KEY_CACHE_TTL_MS);
  });

  it('sees a revocation made elsewhere within the bound, and never uses an entry that old', async () => {
    const tenant = await createTenant();
    const hash = await hashApiKey(tenant.key.secret);
    const work = backgroundWork();
    const start = Date.now();
    const first = await credentialsFor(env.DB, hash, work.later, start);
    expect(first.credentials?.revokedAt).toBeNull();
    expect(first.cache).toBe('miss');
    await revokeElsewhere(tenant.key.id);
    // Inside the bound, before the refresh age, this isolate still answers from what it read.
    const cached = await credentialsFor(env.DB, hash, work.later, start + KEY_CACHE_REFRESH_MS - 1);
    expect(cached.credentials?.revokedAt).toBeNull();
    expect(cached.cache).toBe('hit');
    expect(work.started).toHaveLength(0);
    // At the bound, the entry is not used: the read happens before the answer.
    const reread = await credentialsFor(env.DB, hash, work.later, start + KEY_CACHE_TTL_MS);
    expect(reread.credentials?.revokedAt).not.toBeNull();
    expect(reread.cache).toBe('miss');
  });

  it('refreshes a busy key in the background before the bound, one refresh at a time', async () => {
    const tenant = await createTenant();
    const hash = await hashApiKey(tenant.key.secret);
    const work = backgroundWork();
    const start = Date.now();
    await credentialsFor(env.DB, hash, work.later, start);
    await revokeElsewhere(tenant.key.id);
    const refreshAge = start + KEY_CACHE_REFRESH_MS;
    expect((await credentialsFor(env.DB, hash, work.later, refreshAge)).credentials?.revokedAt).toBeNull();
    expect((await credentialsFor(env.DB, hash, work.later, refreshAge + 1)).credentials?.revokedAt).toBeNull();
    expect(work.started).toHaveLength(1);
    await work.settled();
    // The refreshed entry is used from then on: the revocation is seen before the 30 s bound.
    expect((await credentialsFor(env.DB, hash, work.later, refreshAge + 2)).credentials?.revokedAt).not.toBeNull();
  });

  it('does not keep a read that was in flight when the key was forgotten', async () => {
    const tenant = await createTenant();
    const hash = await hashApiKey(tenant.key.secret);
    const work = backgroundWork();
    const now = Date.now();
    const inFlight = credentialsFor(env.DB, hash, work.later, now);
    // Forgotten while the read is running (as by a revocation through this isolate landing then),
    // the read must not store what it saw before.
    forgetKey(tenant.key.id);
    await revokeElsewhere(tenant.key.id);
    expect((await inFlight).credentials?.revokedAt).toBeNull();
    expect((await credentialsFor(env.DB, hash, work.later, now + 1)).credentials?.revokedAt).not.toBeNull();
  });

  it('caches only keys that exist', async () => {
    const tenant = await createTenant();
    const hash = await hashApiKey(tenant.key.secret);
    await env.DB.prepare('DELETE FROM api_keys WHERE id = ?1').bind(tenant.key.id).run();
    const work = backgroundWork();
    const now = Date.now();
    expect(await credentialsFor(env.DB, hash, work.later, now)).toEqual({ credentials: undefined, cache: 'miss' });
    const again = await createTenant();
    const otherHash = await hashApiKey(again.key.secret);
    expect((await credentialsFor(env.DB, otherHash, work.later, now)).credentials?.keyId).toBe(again.key.id);
  });
});
