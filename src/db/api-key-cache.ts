/**
 * @module
 * What each isolate remembers about API keys it has seen, so an authenticated request does not
 * read D1 before its real work (a second D1 read cost more than the rest of the middleware chain;
 * see bench/README.md).
 *
 * Revocation bound: a key revoked or rotated through this isolate is forgotten at once
 * ({@link forgetKey}), and so are an organisation's keys when it requires signed requests or stops,
 * changes its default API version, or is erased through it ({@link forgetOrganization}); a change
 * made elsewhere (another isolate, the bootstrap script, SQL by hand) is seen within {@link KEY_CACHE_TTL_MS}, because an entry older than that is never used. Entries
 * are refreshed in the background from {@link KEY_CACHE_REFRESH_MS} on, so busy keys rarely wait for
 * the read. Only keys that exist are kept; an unknown key reads D1 every time (and is limited per IP).
 */
import { setBounded } from '../lib/bounded-map.ts';
import { findCredentialsByHash, type KeyCredentials } from './api-keys.ts';

/** The longest an isolate trusts what it read about a key: the bound on a revocation made elsewhere. */
export const KEY_CACHE_TTL_MS = 30_000;
/** From this age an entry is still used but read again in the background. */
export const KEY_CACHE_REFRESH_MS = 20_000;
const MAX_CACHED_KEYS = 1_000;

interface Entry {
  credentials: KeyCredentials;
  /** When the read that produced it started (ms since the epoch). */
  readAt: number;
}

// Keyed by the SHA-256 of the secret, never the secret.
const entries = new Map<string, Entry>();
const refreshing = new Set<string>();
// Bumped by every forgetKey: a read that started before a revocation must not store what it read.
let forgets = 0;

async function read(db: D1Database, hash: string, startedAt: number): Promise<KeyCredentials | undefined> {
  const forgetsBefore = forgets;
  const credentials = await findCredentialsByHash(db, hash);
  if (credentials && forgets === forgetsBefore) setBounded(entries, hash, { credentials, readAt: startedAt }, MAX_CACHED_KEYS);
  else entries.delete(hash);
  return credentials;
}

export interface KeyLookup {
  credentials: KeyCredentials | undefined;
  /** `hit` when the isolate's cache answered, `miss` when D1 was read: the request's metric says which. */
  cache: 'hit' | 'miss';
}

/**
 * The credentials for a key hash, from this isolate's cache when fresh enough. `refreshLater`
 * receives the background refresh (pass `ctx.waitUntil`) so it outlives the request.
 */
export async function credentialsFor(
  db: D1Database,
  hash: string,
  refreshLater: (refresh: Promise<unknown>) => void,
  now: number = Date.now(),
): Promise<KeyLookup> {
  const entry = entries.get(hash);
  const age = entry ? now - entry.readAt : Number.POSITIVE_INFINITY;
  if (!entry || age >= KEY_CACHE_TTL_MS || age < 0) return { credentials: await read(db, hash, now), cache: 'miss' };
  if (age >= KEY_CACHE_REFRESH_MS && !refreshing.has(hash)) {
    refreshing.add(hash);
    refreshLater(read(db, hash, now).finally(() => refreshing.delete(hash)));
  }
  return { credentials: entry.credentials, cache: 'hit' };
}

/**
 * Forgets every key of an organisation at once: called when a change to what the key lookup carries
 * of the organisation (whether it requires signed requests, its default API version, its erasure) is
 * made through this isolate.
 */
export function forgetOrganization(orgId: string): void {
  forgets += 1;
  for (const [hash, entry] of entries) if (entry.credentials.orgId === orgId) entries.delete(hash);
}

/** Forgets a key at once: called by this isolate's revocation and rotation. */
export function forgetKey(keyId: string): void {
  forgets += 1;
  for (const [hash, entry] of entries) if (entry.credentials.keyId === keyId) entries.delete(hash);
}
