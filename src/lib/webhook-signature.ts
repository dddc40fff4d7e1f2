/**
 * @module
 * Standard Webhooks signatures (https://www.standardwebhooks.com): the Worker signs each delivery with
 * {@link signWebhook}, a receiver checks it with {@link verifyWebhook}. The same file ships in the
 * client package (`@switchyard/client/webhooks`), so both sides run one implementation; it imports
 * nothing and needs only WebCrypto (Workers, Node 22, browsers, Deno, Bun).
 *
 * The signed content is `${webhook-id}.${webhook-timestamp}.${body}`, the signature its HMAC-SHA256
 * under the secret's bytes (the base64 after `whsec_`), sent as `v1,<base64>`; during a secret's
 * rotation the header carries one signature per secret, space-separated. Written on WebCrypto rather
 * than with the `standardwebhooks` package: that one computes SHA-256 in JavaScript (fast-sha256)
 * and pulls two dependencies into the client, where the platform's HMAC is native and constant-time.
 */

const SECRET_PREFIX = 'whsec_';
const SIGNATURE_VERSION = 'v1';
const encoder = new TextEncoder();

/** How far a delivery's `webhook-timestamp` may be from the receiver's clock: the replay window. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

function secretBytes(secret: string): Uint8Array<ArrayBuffer> | undefined {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  try {
    const binary = atob(encoded);
    if (binary.length === 0) return undefined;
    return Uint8Array.from(binary, (character) => character.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function hmacKey(bytes: Uint8Array<ArrayBuffer>, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

function toBase64(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (character) => character.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * The `webhook-signature` header for `body`, delivered as `id` at `timestamp` (Unix seconds): one
 * `v1,<base64>` per secret, space-separated, so a receiver holding any one of them verifies it.
 *
 * @example
 * ```ts
 * const signature = await signWebhook(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'msg_2KWP…', 1_764_000_000, body);
 * ```
 */
export async function signWebhook(secrets: readonly string[], id: string, timestamp: number, body: string): Promise<string> {
  const content = encoder.encode(`${id}.${timestamp}.${body}`);
  const signatures: string[] = [];
  for (const secret of secrets) {
    const bytes = secretBytes(secret);
    if (bytes === undefined) throw new TypeError('a webhook secret is whsec_ and base64');
    signatures.push(`${SIGNATURE_VERSION},${toBase64(await crypto.subtle.sign('HMAC', await hmacKey(bytes, 'sign'), content))}`);
  }
  return signatures.join(' ');
}

/** Why a delivery was not accepted as genuine. */
export type WebhookVerificationFailure =
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing, or not in the standard's form. */
  | 'missing_headers'
  /** The timestamp is more than the tolerance away from now: a replay, or a clock far off. */
  | 'timestamp_out_of_tolerance'
  /** No signature in the header is the body's under any of the secrets given. */
  | 'invalid_signature'
  /** None of the secrets given is a `whsec_…` secret. */
  | 'invalid_secret'
  /** The signature holds, but the body is not JSON. */
  | 'invalid_body';

export class WebhookVerificationError extends Error {
  readonly reason: WebhookVerificationFailure;

  constructor(reason: WebhookVerificationFailure, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(found) ? found.join(' ') : found;
}

export interface VerifyWebhookOptions {
  /** The receiver's clock, for tests; defaults to now. */
  now?: Date;
  /** Defaults to {@link WEBHOOK_TOLERANCE_SECONDS}. */
  toleranceSeconds?: number;
}

/**
 * Checks that `body` (the raw request body, exactly as received) was signed by Switchyard with one of
 * `secrets` within the last five minutes, and returns the event it holds. Throws a
 * {@link WebhookVerificationError} naming the reason otherwise. Give every secret that may sign
 * right now: the current one and, for 24 hours after a rotation, the one it replaced.
 *
 * @example
 * ```ts
 * const event = await verifyWebhook(await request.text(), request.headers, [process.env.WEBHOOK_SECRET]);
 * if (event.type === 'device.created') console.log(event.data.name);
 * ```
 */
export async function verifyWebhook<Event = unknown>(
  body: string,
  headers: HeaderSource,
  secrets: string | readonly string[],
  options: VerifyWebhookOptions = {},
): Promise<Event> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !/^\d{1,15}$/.test(timestamp) || !signatures) {
    throw new WebhookVerificationError(
      'missing_headers',
      'webhook-id, webhook-timestamp (Unix seconds) and webhook-signature are required',
    );
  }
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) {
    throw new WebhookVerificationError('timestamp_out_of_tolerance', `webhook-timestamp ${timestamp} is too far from now (${now})`);
  }
  const keys = (typeof secrets === 'string' ? [secrets] : secrets).flatMap((secret) => {
    const bytes = secretBytes(secret);
    return bytes === undefined ? [] : [bytes];
  });
  if (keys.length === 0) throw new WebhookVerificationError('invalid_secret', 'no secret given is a whsec_ secret');
  const content = encoder.encode(`${id}.${timestamp}.${body}`);
  const candidates = signatures.split(' ').flatMap((entry) => {
    const [version, value] = entry.split(',', 2);
    const bytes = version === SIGNATURE_VERSION && value ? fromBase64(value) : undefined;
    return bytes === undefined ? [] : [bytes];
  });
  for (const key of keys) {
    const verifier = await hmacKey(key, 'verify');
    // crypto.subtle.verify compares in constant time.
    for (const candidate of candidates) {
      if (await crypto.subtle.verify('HMAC', verifier, candidate, content)) {
        try {
          return JSON.parse(body) as Event;
        } catch {
          throw new WebhookVerificationError('invalid_body', 'the signed body is not JSON');
        }
      }
    }
  }
  throw new WebhookVerificationError('invalid_signature', 'no signature matches the body under the secrets given');
}
