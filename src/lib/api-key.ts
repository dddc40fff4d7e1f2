/**
 * @module
 * API key format: `sy_<mode>_<32 random base62><6 base62 CRC-32 checksum>`, e.g.
 * `sy_live_…` (190 bits of randomness). The checksum lets a typo or a truncated paste be refused
 * without a database read; the key itself is stored only as its SHA-256.
 * Used by the Worker and by scripts/org-create.ts (Node), so it only needs Web Crypto.
 */
import { randomBase62, sha256Hex, toBase62 } from './encoding.ts';

export const KEY_MODES = ['live', 'test'] as const;
export type KeyMode = (typeof KEY_MODES)[number];

const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_FORMAT = /^sy_(live|test)_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;
/** How much of a key is kept in clear for people to recognise it: `sy_live_` and 4 characters. */
const DISPLAY_PREFIX_LENGTH = 12;

const CRC32_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of new TextEncoder().encode(text)) crc = (CRC32_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function checksum(body: string): string {
  return toBase62(crc32(body), CHECKSUM_LENGTH);
}

export interface GeneratedKey {
  /** The secret, shown once. */
  secret: string;
  /** What is stored and looked up. */
  hash: string;
  /** What is shown later for recognition. */
  prefix: string;
}

export async function generateApiKey(mode: KeyMode): Promise<GeneratedKey> {
  const body = `sy_${mode}_${randomBase62(RANDOM_LENGTH)}`;
  const secret = body + checksum(body);
  return { secret, hash: await hashApiKey(secret), prefix: secret.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/** The key's mode when it is well formed and its checksum matches; undefined otherwise. */
export function checkApiKeyFormat(candidate: string): KeyMode | undefined {
  const match = KEY_FORMAT.exec(candidate);
  if (!match) return undefined;
  const [, mode, random, sum] = match;
  return sum === checksum(`sy_${mode}_${random}`) ? (mode as KeyMode) : undefined;
}

export function hashApiKey(secret: string): Promise<string> {
  return sha256Hex(secret);
}

/** Whether a string contains something shaped like an API key (for refusing keys in URLs). */
export function containsApiKey(text: string): boolean {
  return /sy_(live|test)_[0-9A-Za-z]{16,}/.test(text);
}
