/**
 * @module
 * HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest (RFC 9530): the part that the
 * signer and the verifier share. The signature base of a request, the digest of a body, and
 * {@link signRequest}, which adds `Content-Digest`, `Signature-Input` and `Signature` to a request.
 * WebCrypto only, and no imports: the same file runs in the Worker and ships in @switchyard/client
 * (scripts/lib/client-package.ts), for browsers, Node 22 and Workers alike. The Worker's
 * verification, which parses the fields as RFC 8941 structured fields, is lib/signature-verification.ts.
 */

/** The Content-Digest algorithms computed and accepted (RFC 9530 §5), with their WebCrypto names. */
export const DIGEST_ALGORITHMS = { 'sha-256': 'SHA-256', 'sha-512': 'SHA-512' } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** The label of the signature a signer sends (`sig1=…` in both fields). */
export const SIGNATURE_LABEL = 'sig1';

/**
 * What a signature of a sensitive operation covers: the method and the whole URL the request was
 * sent to, and the digest of its body (covered whenever there is a body; a signer covers it always).
 */
export const SIGNED_COMPONENTS = ['@method', '@target-uri', 'content-digest'] as const;

/** The algorithm name of an Ed25519 signature (RFC 9421 §6.2.2), in `alg`. */
export const SIGNATURE_ALGORITHM = 'ed25519';

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A body's digest by `algorithm`. */
export async function digestOf(body: Uint8Array<ArrayBuffer>, algorithm: DigestAlgorithm): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(DIGEST_ALGORITHMS[algorithm], body));
}

/** The `Content-Digest` field value of a body: `sha-256=:<base64>:` (a dictionary of one byte sequence). */
export async function contentDigest(body: Uint8Array<ArrayBuffer>, algorithm: DigestAlgorithm = 'sha-256'): Promise<string> {
  return `${algorithm}=:${toBase64(await digestOf(body, algorithm))}:`;
}

/** One line of a signature base: a covered component's serialised identifier (`"@method"`) and its value. */
export interface ComponentLine {
  id: string;
  value: string;
}

/**
 * The signature base (RFC 9421 §2.5): one `identifier: value` line per covered component, in the
 * order covered, then `"@signature-params"` with the serialised parameters; no trailing newline.
 */
export function signatureBase(lines: readonly ComponentLine[], signatureParams: string): string {
  return [...lines.map((line) => `${line.id}: ${line.value}`), `"@signature-params": ${signatureParams}`].join('\n');
}

/** An RFC 8941 sf-string: quoted, with `"` and `\` escaped. */
function sfString(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

export interface SignatureParameters {
  /** Seconds since the epoch at which the signature was made. */
  created: number;
  keyid: string;
  nonce: string;
}

/**
 * The `@signature-params` value a signer makes: the covered components as an inner list of
 * strings, then `created`, `keyid`, `nonce` and `alg`, serialised as RFC 8941 does (what the
 * verifier's re-serialisation gives back byte for byte).
 */
export function signatureParamsValue(components: readonly string[], params: SignatureParameters): string {
  const list = `(${components.map(sfString).join(' ')})`;
  return `${list};created=${Math.trunc(params.created)};keyid=${sfString(params.keyid)};nonce=${sfString(params.nonce)};alg=${sfString(SIGNATURE_ALGORITHM)}`;
}

/**
 * WebCrypto's `CryptoKey`, named through `crypto` so that these declarations compile with Node's
 * types alone, which declare no global `CryptoKey` (the client package's declarations must).
 */
export type SigningKey = Parameters<typeof crypto.subtle.sign>[1];

/** A private key as a JWK: for Ed25519, `{ kty: 'OKP', crv: 'Ed25519', d, x }`, as `crypto.subtle.exportKey('jwk', …)` gives it. */
export interface PrivateJwk {
  kty?: string;
  crv?: string;
  d?: string;
  x?: string;
}

/** A signer: the id of a signing key registered with the organisation, and its Ed25519 private key. */
export interface RequestSigner {
  keyId: string;
  privateKey: SigningKey;
}

/** An Ed25519 private key from a JWK, usable only to sign. */
export function importSigningKey(jwk: PrivateJwk): Promise<SigningKey> {
  // Workers' JsonWebKey requires `kty`, the DOM's does not: this type takes either, and WebCrypto checks it.
  return crypto.subtle.importKey('jwk', jwk as JsonWebKey, { name: 'Ed25519' }, false, ['sign']);
}

/** A fresh nonce: 16 random bytes as base64url (22 characters). */
function newNonce(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(16)))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/**
 * Signs a request in place: sets `Content-Digest` (SHA-256 of `body`, empty when there is none),
 * `Signature-Input` and `Signature`, covering {@link SIGNED_COMPONENTS} with a fresh nonce and the
 * current time. Sign each attempt anew: the API refuses a nonce it has already accepted.
 *
 * @example
 * ```ts
 * const privateKey = await importSigningKey(jwk)
 * await signRequest(request, new Uint8Array(await request.clone().arrayBuffer()), { keyId: 'sig_…', privateKey })
 * ```
 */
export async function signRequest(
  request: Request,
  body: Uint8Array<ArrayBuffer>,
  signer: RequestSigner,
  options: { created?: number; nonce?: string } = {},
): Promise<void> {
  const digest = await contentDigest(body);
  const params = signatureParamsValue(SIGNED_COMPONENTS, {
    created: options.created ?? Math.floor(Date.now() / 1000),
    keyid: signer.keyId,
    nonce: options.nonce ?? newNonce(),
  });
  const base = signatureBase(
    [
      { id: '"@method"', value: request.method },
      { id: '"@target-uri"', value: request.url },
      { id: '"content-digest"', value: digest },
    ],
    params,
  );
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, signer.privateKey, new TextEncoder().encode(base)));
  request.headers.set('Content-Digest', digest);
  request.headers.set('Signature-Input', `${SIGNATURE_LABEL}=${params}`);
  request.headers.set('Signature', `${SIGNATURE_LABEL}=:${toBase64(signature)}:`);
}
