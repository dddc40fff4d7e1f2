/**
 * @module
 * Verifying an HTTP Message Signature (RFC 9421) with Ed25519, and a Content-Digest (RFC 9530),
 * as a verifier: `Signature-Input`, `Signature` and `Content-Digest` are parsed as RFC 8941
 * dictionaries (structured-headers), the signature base is rebuilt from the request as the Worker
 * received it (lib/http-signature.ts builds the same base for the signer), and the signature is
 * checked with WebCrypto. What the API requires of a signature beyond the RFC (which components,
 * which parameters, how fresh) is middleware/request-signature.ts's.
 *
 * Derived components come from the request's URL as the Worker sees it: `@target-uri` is that URL
 * whole, `@authority` its host (lowercase, no default port), `@path`, `@query` (`?` alone when
 * empty), `@request-target`, `@scheme`, `@method`. A header field's value is its values joined with
 * `, `, trimmed. Component parameters (`sf`, `key`, `bs`, `req`, `tr`, `name`) are not supported.
 */
import {
  type BareItem,
  type InnerList,
  type Item,
  isInnerList,
  type Parameters,
  parseDictionary,
  serializeInnerList,
  serializeItem,
} from 'structured-headers';
import { type ComponentLine, DIGEST_ALGORITHMS, type DigestAlgorithm, digestOf, signatureBase } from './http-signature.ts';

/** Why a signature could not be verified, as a stable code the caller maps to its answer. */
export type SignatureFailure = 'missing' | 'malformed' | 'component_missing';

export class SignatureError extends Error {
  readonly failure: SignatureFailure;
  constructor(failure: SignatureFailure, message: string) {
    super(message);
    this.name = 'SignatureError';
    this.failure = failure;
  }
}

/** One signature a request carries: its label, what it covers, its parameters and its bytes. */
export interface ReceivedSignature {
  label: string;
  /** The covered component identifiers, in order (`@method`, `content-digest`…). */
  components: string[];
  /** The signature parameters (`created`, `keyid`, `nonce`, `alg`, `expires`…), as parsed. */
  params: Parameters;
  /** The serialised inner list: the `@signature-params` value. */
  paramsValue: string;
  signature: Uint8Array<ArrayBuffer>;
  /** The covered components' items, kept to serialise their identifiers into the base. */
  items: Item[];
}

function dictionary(headers: Headers, name: string): Map<string, Item | InnerList> {
  const value = headers.get(name);
  if (value === null) throw new SignatureError('missing', `The request has no ${name} header.`);
  try {
    return parseDictionary(value);
  } catch {
    throw new SignatureError('malformed', `${name} is not an RFC 8941 dictionary.`);
  }
}

/**
 * The first signature of the request: the first member of `Signature-Input`, and the member of
 * `Signature` with its label. Throws a {@link SignatureError} when either field is absent, is not a
 * dictionary, or the two do not describe one signature.
 */
export function receivedSignature(headers: Headers): ReceivedSignature {
  const inputs = dictionary(headers, 'Signature-Input');
  const signatures = dictionary(headers, 'Signature');
  const first = inputs.entries().next();
  if (first.done) throw new SignatureError('malformed', 'Signature-Input names no signature.');
  const [label, input] = first.value;
  if (!isInnerList(input)) throw new SignatureError('malformed', `Signature-Input ${label} is not an inner list of components.`);
  const [items, params] = input;
  const components = items.map(([name]) => name);
  if (!components.every((name): name is string => typeof name === 'string')) {
    throw new SignatureError('malformed', `Signature-Input ${label} names a component that is not a string.`);
  }
  const signed = signatures.get(label);
  if (signed === undefined) throw new SignatureError('malformed', `Signature has no member ${label}, which Signature-Input describes.`);
  if (isInnerList(signed) || !(signed[0] instanceof ArrayBuffer)) {
    throw new SignatureError('malformed', `Signature ${label} is not a byte sequence.`);
  }
  return { label, components, params, paramsValue: serializeInnerList(input), signature: new Uint8Array(signed[0]), items };
}

function derivedComponent(request: Request, url: URL, name: string): string | undefined {
  switch (name) {
    case '@method':
      return request.method;
    case '@target-uri':
      return request.url;
    case '@authority':
      return url.host;
    case '@scheme':
      return url.protocol.slice(0, -1);
    case '@request-target':
      return `${url.pathname}${url.search}`;
    case '@path':
      return url.pathname;
    case '@query':
      return url.search === '' ? '?' : url.search;
    default:
      return undefined;
  }
}

/**
 * The signature base of `signature` over `request`. Throws `component_missing` for a covered header
 * the request lacks, `malformed` for a component listed twice, a parameter on a component, an
 * unknown derived component, or a field name that is not lowercase.
 */
export function requestSignatureBase(request: Request, signature: ReceivedSignature): string {
  const url = new URL(request.url);
  const seen = new Set<string>();
  const lines: ComponentLine[] = signature.items.map((item) => {
    const name = item[0] as string;
    if (seen.has(name)) throw new SignatureError('malformed', `The signature covers ${name} twice.`);
    seen.add(name);
    if (item[1].size > 0) throw new SignatureError('malformed', `The signature covers ${name} with parameters, which are not supported.`);
    const value = name.startsWith('@') ? derivedComponent(request, url, name) : fieldValue(request.headers, name);
    if (value === undefined) {
      if (name.startsWith('@')) throw new SignatureError('malformed', `The derived component ${name} is not one a request has.`);
      throw new SignatureError('component_missing', `The signature covers ${name}, which the request does not carry.`);
    }
    return { id: serializeItem(item), value };
  });
  return signatureBase(lines, signature.paramsValue);
}

function fieldValue(headers: Headers, name: string): string | undefined {
  if (name !== name.toLowerCase() || name === '') throw new SignatureError('malformed', `The field name ${name} is not lowercase.`);
  return headers.get(name)?.trim();
}

/** Whether `signature` is an Ed25519 signature of `base` under the public key `x` (a JWK's `x`: base64url, 32 bytes). */
export async function verifyEd25519(x: string, base: string, signature: Uint8Array<ArrayBuffer>): Promise<boolean> {
  const key = await importVerifyingKey(x);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, new TextEncoder().encode(base));
}

/** The WebCrypto key of an Ed25519 public key given as a JWK's `x`; rejects one that is not 32 bytes of base64url. */
export function importVerifyingKey(x: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x }, { name: 'Ed25519' }, false, ['verify']);
}

/** What a `Content-Digest` says of a body: it matches, it does not, or it says nothing this API can check. */
export type DigestCheck = 'match' | 'mismatch' | 'malformed' | 'unsupported';

/**
 * Checks a `Content-Digest` field against the body (RFC 9530): every member with an algorithm of
 * {@link DIGEST_ALGORITHMS} must be a byte sequence equal to the body's digest; members of other
 * algorithms are ignored, as the RFC asks, but at least one must be known.
 */
export async function checkContentDigest(field: string, body: Uint8Array<ArrayBuffer>): Promise<DigestCheck> {
  let members: Map<string, Item | InnerList>;
  try {
    members = parseDictionary(field);
  } catch {
    return 'malformed';
  }
  let checked = 0;
  for (const [algorithm, member] of members) {
    if (!Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) continue;
    const value: BareItem | Item[] = member[0];
    if (isInnerList(member) || !(value instanceof ArrayBuffer)) return 'malformed';
    const expected = await digestOf(body, algorithm as DigestAlgorithm);
    if (!sameBytes(new Uint8Array(value), expected)) return 'mismatch';
    checked += 1;
  }
  return checked === 0 ? 'unsupported' : 'match';
}

/** Not constant time: a digest is of the request's own body, nothing secret. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, index) => byte === b[index]);
}
