/**
 * @module
 * Encryption of what must be stored but never in plain text: the responses saved for idempotency
 * keys carry API-key secrets and connect tokens. AES-256-GCM through WebCrypto, under keys derived
 * with HKDF-SHA-256 from server secrets. A sealed value reads `v1.<key id>.<iv>.<ciphertext>`
 * (base64url). The key id is derived from the secret too, so a value names the secret that sealed
 * it without revealing anything of it: seal with the current secret, open with the current one or
 * any previous one still configured, and a secret can be rotated without losing what it sealed.
 * Associated data binds a value to where it is stored, so one moved to another row does not open.
 */
import { base64UrlToBytes, bytesToBase64Url, toHex } from './encoding.ts';

const FORMAT_VERSION = 'v1';
const IV_BYTES = 12;
const HKDF_SALT = new TextEncoder().encode('switchyard storage');
const KEY_INFO = new TextEncoder().encode('switchyard storage encryption key v1');
const KEY_ID_INFO = new TextEncoder().encode('switchyard storage encryption key id v1');

export interface StorageKeyring {
  /** The key new values are sealed with. */
  current: { id: string; key: CryptoKey };
  /** Every key a value may have been sealed with, the current one included, by id. */
  byId: Map<string, CryptoKey>;
}

async function deriveKey(secret: string): Promise<{ id: string; key: CryptoKey }> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey', 'deriveBits']);
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: KEY_INFO },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
  const id = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: KEY_ID_INFO }, material, 64);
  return { id: toHex(id), key };
}

// Per isolate: deriving costs more than sealing, and the secrets change only with a deploy.
const keyrings = new Map<string, StorageKeyring>();

/** The keyring of `current` and `previous` secrets (each at least 32 bytes: env.ts checks them). */
export async function storageKeyring(current: string, previous: readonly string[]): Promise<StorageKeyring> {
  const cacheKey = JSON.stringify([current, ...previous]);
  const cached = keyrings.get(cacheKey);
  if (cached) return cached;
  const [sealing, ...older] = await Promise.all([current, ...previous].map(deriveKey));
  if (sealing === undefined) throw new Error('storageKeyring needs a current secret');
  const keyring: StorageKeyring = { current: sealing, byId: new Map([sealing, ...older].map(({ id, key }) => [id, key])) };
  keyrings.set(cacheKey, keyring);
  return keyring;
}

/** How every value sealed under the keyring's current key begins: anything else was sealed under another. */
export function currentKeyPrefix(keyring: StorageKeyring): string {
  return `${FORMAT_VERSION}.${keyring.current.id}.`;
}

/** `plaintext` sealed under the keyring's current key, bound to `context` (where it will be stored). */
export async function seal(keyring: StorageKeyring, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(context) },
    keyring.current.key,
    new TextEncoder().encode(plaintext),
  );
  return `${FORMAT_VERSION}.${keyring.current.id}.${bytesToBase64Url(iv)}.${bytesToBase64Url(ciphertext)}`;
}

/**
 * The plaintext of a value {@link seal} made with one of the keyring's keys for the same `context`;
 * undefined for anything else: another format, a key no longer configured, a value altered or
 * moved. Never the stored text itself.
 */
export async function open(keyring: StorageKeyring, sealed: string, context: string): Promise<string | undefined> {
  const [version, keyId, ivText, ciphertextText, ...rest] = sealed.split('.');
  if (version !== FORMAT_VERSION || rest.length > 0 || keyId === undefined) return undefined;
  const key = keyring.byId.get(keyId);
  const iv = base64UrlToBytes(ivText ?? '');
  const ciphertext = base64UrlToBytes(ciphertextText ?? '');
  if (key === undefined || iv?.byteLength !== IV_BYTES || ciphertext === undefined) return undefined;
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(context) },
      key,
      ciphertext,
    );
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(plaintext);
  } catch {
    return undefined;
  }
}
