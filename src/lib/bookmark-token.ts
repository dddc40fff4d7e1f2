/**
 * @module
 * The bookmark token a client holds to read its own writes: a D1 session bookmark (a position in
 * the database's history, which D1 hands out after each query) and a MAC over it, so that the API
 * only ever gives D1 a bookmark that D1 gave it. A bookmark of the client's own making could name a
 * position the database has not reached (a replica would wait for it until the query timed out, and
 * every such timeout would count against the D1 breaker every tenant shares) or another database's.
 *
 * A token reads `<bookmark>.<mac>`: the bookmark as D1 wrote it, so that tokens sort as bookmarks do
 * (oldest first, by plain string comparison), then base64url HMAC-SHA-256 over it under a key
 * derived with HKDF from the storage secrets. It is signed with the current secret and accepted
 * under any previous one still configured, so rotating the secret does not refuse tokens in use.
 */
import { setBounded } from './bounded-map.ts';
import { base64UrlToBytes, bytesToBase64Url } from './encoding.ts';

/**
 * What D1 bookmarks are made of, as D1 and local workerd write them (`00000085-0000024c-00004c6d-
 * 8e61117bf38d7adb71b934ebbf891683`: 59 characters), with room to grow. A bookmark outside it is
 * not signed (the response carries none), rather than a token being made that could not be read back.
 */
const D1_BOOKMARK = /^[0-9A-Za-z-]{1,128}$/;
/** 32 bytes of MAC in base64url, unpadded. */
const MAC_CHARACTERS = 43;
/** Every token this module makes matches it; nothing else is opened. */
export const BOOKMARK_TOKEN_PATTERN = /^[0-9A-Za-z-]{1,128}\.[A-Za-z0-9_-]{43}$/;
export const MAX_BOOKMARK_TOKEN_LENGTH = 128 + 1 + MAC_CHARACTERS;

const HKDF_SALT = new TextEncoder().encode('switchyard d1 bookmark');
const KEY_INFO = new TextEncoder().encode('switchyard d1 bookmark mac key v1');
/** Bound into every MAC, so a MAC made under this key for anything else never passes as a token's. */
const MAC_CONTEXT = 'switchyard d1 bookmark v1\n';

/**
 * Tokens made and opened per keyring, so that the reads between two writes (which all see the same
 * bookmark) sign and check it once. Bounded: every write makes a new bookmark (locally every query).
 */
const MAX_REMEMBERED_TOKENS = 512;

export interface BookmarkKeyring {
  /** The key of the current secret: every token is signed with it. */
  signing: CryptoKey;
  /** It and the keys of the previous secrets: a token signed with any of them opens. */
  verifying: CryptoKey[];
  /** Bookmark → its token, and token → its bookmark, for the tokens this isolate made or opened. */
  tokens: Map<string, string>;
  bookmarks: Map<string, string>;
}

async function deriveKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: KEY_INFO },
    material,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign', 'verify'],
  );
}

// Per isolate: deriving costs more than signing, and the secrets change only with a deploy.
const keyrings = new Map<string, Promise<BookmarkKeyring>>();

/** The keyring of the `current` and `previous` storage secrets (each at least 32 bytes: env.ts checks them). */
export function bookmarkKeyring(current: string, previous: readonly string[]): Promise<BookmarkKeyring> {
  const cacheKey = JSON.stringify([current, ...previous]);
  let keyring = keyrings.get(cacheKey);
  if (keyring === undefined) {
    keyring = Promise.all([current, ...previous].map(deriveKey)).then(([signing, ...older]) => {
      if (signing === undefined) throw new Error('bookmarkKeyring needs a current secret');
      return { signing, verifying: [signing, ...older], tokens: new Map(), bookmarks: new Map() };
    });
    // A failed derivation is not kept: the next request derives again.
    keyring.catch(() => keyrings.delete(cacheKey));
    keyrings.set(cacheKey, keyring);
  }
  return keyring;
}

function macInput(bookmark: string): Uint8Array {
  return new TextEncoder().encode(`${MAC_CONTEXT}${bookmark}`);
}

/** The token for a bookmark D1 gave; undefined for one outside {@link D1_BOOKMARK} (see there). */
export async function signBookmark(keyring: BookmarkKeyring, bookmark: string): Promise<string | undefined> {
  const known = keyring.tokens.get(bookmark);
  if (known !== undefined) return known;
  if (!D1_BOOKMARK.test(bookmark)) return undefined;
  const mac = await crypto.subtle.sign('HMAC', keyring.signing, macInput(bookmark));
  const token = `${bookmark}.${bytesToBase64Url(mac)}`;
  setBounded(keyring.tokens, bookmark, token, MAX_REMEMBERED_TOKENS);
  return token;
}

/**
 * The bookmark a token stands for, or undefined when it is not one this deployment signed (another
 * format, an altered bookmark or MAC, a secret no longer configured). Compared in constant time.
 */
export async function openBookmark(keyring: BookmarkKeyring, token: string): Promise<string | undefined> {
  const known = keyring.bookmarks.get(token);
  if (known !== undefined) return known;
  // The length first: a header can be kilobytes long, and nothing that long is worth a regex.
  if (token.length > MAX_BOOKMARK_TOKEN_LENGTH || !BOOKMARK_TOKEN_PATTERN.test(token)) return undefined;
  const separator = token.lastIndexOf('.');
  const bookmark = token.slice(0, separator);
  const encodedMac = token.slice(separator + 1);
  const mac = base64UrlToBytes(encodedMac);
  // Only the one spelling signBookmark writes: the last character's spare bits must be zero.
  if (mac === undefined || bytesToBase64Url(mac) !== encodedMac) return undefined;
  for (const key of keyring.verifying) {
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify('HMAC', key, mac, macInput(bookmark))) {
      setBounded(keyring.bookmarks, token, bookmark, MAX_REMEMBERED_TOKENS);
      return bookmark;
    }
  }
  return undefined;
}
