/**
 * @module
 * The client's IP, and the keyed hash of it that is all we ever store or log.
 */
import { toHex } from './encoding.ts';

/** Cloudflare sets CF-Connecting-IP at the edge (and wrangler dev locally); nothing else is trusted. */
export function clientIp(request: Request): string {
  return request.headers.get('CF-Connecting-IP') ?? 'unknown';
}

const keys = new Map<string, Promise<CryptoKey>>();

/**
 * HMAC-SHA-256 of the IP under a key derived from the service secret, truncated to 128 bits: the
 * same IP gives the same value (so events can be correlated), but the 2^32 IPv4 addresses cannot
 * be enumerated back from it without the secret.
 */
export async function hashIp(ip: string, secret: string): Promise<string> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(`switchyard:ip-hash:${secret}`),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    keys.set(secret, key);
  }
  const mac = await crypto.subtle.sign('HMAC', await key, new TextEncoder().encode(ip));
  return toHex(new Uint8Array(mac).slice(0, 16));
}
