/**
 * @module
 * Signed requests for sensitive operations (RFC 9421 with Ed25519, RFC 9530 Content-Digest). When
 * the caller's organisation requires them, a route declared `signed` (defineRoute) must carry a
 * valid signature by one of the organisation's signing keys that are not revoked. Checked after
 * authentication and the scope, before the body is validated and before the handler and its
 * idempotency wrapper, so a replayed `Idempotency-Key` never stands in for a signature.
 *
 * What the signature must be:
 * - it is the first member of `Signature-Input` (with the `Signature` member of that label);
 * - it covers `@method` and `@target-uri` (the URL as the Worker receives it), and `content-digest`
 *   whenever the request has a body. A bodiless request (a DELETE, a POST without a body) may leave
 *   the digest out, since there is nothing to bind; a body added on the way then has no covered
 *   digest and is refused. A covered `Content-Digest` must match the body (sha-256 or sha-512);
 * - its parameters hold `created` (within the last {@link SIGNATURE_WINDOW_SECONDS}, at most
 *   {@link MAX_CLOCK_SKEW_SECONDS} ahead), `keyid` (a signing key's id), `nonce` (16–128 URL-safe
 *   characters), and `alg="ed25519"` if `alg` is there at all; an `expires` is honoured;
 * - its nonce was not accepted for the organisation before within the window (a replay).
 *
 * Each refusal is a 401 whose code names the reason, with `Accept-Signature` saying what to sign,
 * and a `signature_refused` security event (errors.ts). A forged or stale request writes nothing:
 * the nonce is recorded only once the signature verified.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import * as signatureNonces from '../db/signature-nonces.ts';
import * as signingKeys from '../db/signing-keys.ts';
import { ApiError } from '../errors.ts';
import { SIGNATURE_ALGORITHM, SIGNATURE_LABEL } from '../lib/http-signature.ts';
import {
  checkContentDigest,
  type ReceivedSignature,
  receivedSignature,
  requestSignatureBase,
  SignatureError,
  verifyEd25519,
} from '../lib/signature-verification.ts';
import type { ErrorCodeFor } from '../schemas/problem.ts';
import { WWW_AUTHENTICATE } from './auth.ts';

/** How long after its `created` a signature is accepted, and so how long its nonce is remembered. */
export const SIGNATURE_WINDOW_SECONDS = 300;
/** How far ahead of the server's clock a signer's `created` may be. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

const NONCE = /^[A-Za-z0-9._~+/=-]{16,128}$/;

/** The request for a signature a refusal carries (RFC 9421 §5.1): what to cover, which parameters to include. */
export const ACCEPT_SIGNATURE = `${SIGNATURE_LABEL}=("@method" "@target-uri" "content-digest");created;keyid;nonce;alg="${SIGNATURE_ALGORITHM}"`;

type Refusal = ErrorCodeFor<401>;

function refuse(code: Refusal, reason: string, detail: string, details: Record<string, string | undefined> = {}): ApiError {
  return new ApiError(code, {
    detail,
    headers: { 'WWW-Authenticate': WWW_AUTHENTICATE, 'Accept-Signature': ACCEPT_SIGNATURE },
    security: { event: 'signature_refused', reason, details },
  });
}

const FAILURE_CODES: Record<SignatureError['failure'], Refusal> = {
  missing: 'signature_missing',
  malformed: 'signature_malformed',
  component_missing: 'signature_component_missing',
};

interface SignatureParams {
  keyId: string;
  nonce: string;
  created: number;
  expires: number | undefined;
}

/** The parameters the API requires, typed, or a `signature_malformed` refusal. */
function requiredParams(signature: ReceivedSignature): SignatureParams {
  const { params } = signature;
  const created = params.get('created');
  const keyId = params.get('keyid');
  const nonce = params.get('nonce');
  const alg = params.get('alg');
  const expires = params.get('expires');
  const malformed = (detail: string, reason: string) => refuse('signature_malformed', reason, detail);
  if (!Number.isInteger(created)) throw malformed('The signature needs an integer `created` parameter.', 'missing_created');
  if (typeof keyId !== 'string' || keyId === '')
    throw malformed('The signature needs a `keyid` parameter: a signing key id.', 'missing_keyid');
  if (typeof nonce !== 'string') throw malformed('The signature needs a `nonce` parameter.', 'missing_nonce');
  if (!NONCE.test(nonce)) throw malformed('The `nonce` must be 16–128 characters of A–Z, a–z, 0–9 and `-._~+/=`.', 'bad_nonce');
  if (alg !== undefined && alg !== SIGNATURE_ALGORITHM)
    throw malformed(`\`alg\` must be "${SIGNATURE_ALGORITHM}" when present.`, 'bad_alg');
  if (expires !== undefined && !Number.isInteger(expires)) throw malformed('`expires` must be an integer.', 'bad_expires');
  return { keyId, nonce, created: created as number, expires: expires as number | undefined };
}

function requireCovered(signature: ReceivedSignature, hasBody: boolean): void {
  const required = ['@method', '@target-uri', ...(hasBody ? ['content-digest'] : [])];
  const missing = required.filter((name) => !signature.components.includes(name));
  if (missing.length > 0) {
    throw refuse(
      'signature_component_missing',
      'component_not_covered',
      `The signature must cover ${missing.map((name) => `\`${name}\``).join(', ')}.`,
      { components: missing.join(' ') },
    );
  }
}

/** When the signature stops being accepted, in seconds since the epoch, or a `signature_expired` refusal. */
function acceptedUntil(params: SignatureParams, now: number): number {
  if (params.created > now + MAX_CLOCK_SKEW_SECONDS) {
    throw refuse(
      'signature_expired',
      'not_yet_valid',
      `The signature's \`created\` is ${params.created - now} s ahead of the server's clock (at most ${MAX_CLOCK_SKEW_SECONDS} s is accepted).`,
    );
  }
  const until = Math.min(params.created + SIGNATURE_WINDOW_SECONDS, params.expires ?? Number.POSITIVE_INFINITY);
  if (until <= now) {
    const detail =
      params.expires !== undefined && params.expires <= now
        ? 'The signature has passed its `expires`.'
        : `The signature was made ${now - params.created} s ago; it is accepted for ${SIGNATURE_WINDOW_SECONDS} s after its \`created\`.`;
    throw refuse('signature_expired', 'expired', detail);
  }
  return until;
}

function parsed(headers: Headers): ReceivedSignature {
  try {
    return receivedSignature(headers);
  } catch (error) {
    if (error instanceof SignatureError) throw refuse(FAILURE_CODES[error.failure], error.failure, error.message);
    throw error;
  }
}

function signatureBaseOf(request: Request, signature: ReceivedSignature): string {
  try {
    return requestSignatureBase(request, signature);
  } catch (error) {
    if (error instanceof SignatureError) throw refuse(FAILURE_CODES[error.failure], error.failure, error.message);
    throw error;
  }
}

/**
 * Verifies the request's signature against the caller's organisation's signing keys, whatever the
 * organisation requires (a route that needs a signature in other cases calls it itself: turning the
 * requirement on). Once verified, `c.var.signingKeyId` names the key and a second call returns at once.
 */
export async function verifyRequestSignature(c: Context<AppEnv>): Promise<void> {
  if (c.get('signingKeyId') !== undefined) return;
  const { orgId } = c.get('auth');
  const signature = parsed(c.req.raw.headers);
  const params = requiredParams(signature);
  const now = Math.floor(Date.now() / 1000);
  const until = acceptedUntil(params, now);
  const body = new Uint8Array(await c.req.arrayBuffer());
  requireCovered(signature, body.byteLength > 0);
  const db = c.get('primaryDb');
  // From the primary: a key revoked a moment ago verifies nothing, whatever a replica has seen.
  const key = await signingKeys.getSigningKey(db, orgId, params.keyId);
  if (key === undefined) {
    // Cut: the key id is the caller's text, and the detail must not grow with it.
    const named = params.keyId.slice(0, 64);
    throw refuse('signing_key_unknown', 'unknown_key', `No signing key ${named} of this organisation (or it is revoked).`, {
      signing_key_id: named,
    });
  }
  const base = signatureBaseOf(c.req.raw, signature);
  if (!(await verifyEd25519(key.publicKey, base, signature.signature))) {
    throw refuse('signature_invalid', 'bad_signature', `The signature does not verify under signing key ${key.id}.`, {
      signing_key_id: key.id,
    });
  }
  const digest = c.req.header('Content-Digest');
  if (signature.components.includes('content-digest') && digest !== undefined) {
    const check = await checkContentDigest(digest, body);
    if (check === 'mismatch') {
      throw refuse('content_digest_mismatch', 'digest_mismatch', 'The body does not match the signed `Content-Digest`.', {
        signing_key_id: key.id,
      });
    }
    if (check !== 'match') {
      throw refuse(
        'signature_malformed',
        `digest_${check}`,
        'The `Content-Digest` must be an RFC 8941 dictionary holding a `sha-256` or `sha-512` byte sequence.',
      );
    }
  }
  const recorded = await signatureNonces
    .recordNonce(db, orgId, params.nonce, new Date(until * 1000).toISOString(), new Date(now * 1000).toISOString())
    .run();
  if (recorded.meta.changes === 0) {
    throw refuse('signature_replayed', 'replayed', 'A signature with this nonce was already accepted: sign the request anew.', {
      signing_key_id: key.id,
    });
  }
  c.set('signingKeyId', key.id);
}

/**
 * The check of a `signed` route (defineRoute adds it): a signature is needed when the caller's
 * organisation requires signed requests, as the API key lookup read it (cached with the key for up
 * to 30 s on other isolates: db/api-key-cache.ts).
 *
 * @example
 * ```ts
 * defineRoute({ ..., scope: 'keys:admin', signed: true })  // runs it after authenticate() and requireScope()
 * ```
 */
export function requireSignature(): MiddlewareHandler<AppEnv> {
  return async function requireSignature(c, next) {
    if (c.get('auth').requireSignedRequests) await verifyRequestSignature(c);
    await next();
  };
}
