/**
 * Signed requests for tests: Ed25519 key pairs made with WebCrypto, registered through the API, the
 * generated client signing with them, and hand-made signatures for what the client never sends (a
 * stale `created`, a component left out, another algorithm).
 */
import { expect } from 'vitest';
import { SIGNATURE_LABEL, signatureBase, signatureParamsValue, toBase64 } from '../../src/lib/http-signature.ts';
import type { Tenant } from './tenants.ts';
import { apiClient } from './worker.ts';

export interface Signer {
  keyId: string;
  privateKey: CryptoKey;
  /** The tenant's generated client, signing every change with this key. */
  api: ReturnType<typeof apiClient>;
}

export async function ed25519KeyPair(): Promise<{ privateKey: CryptoKey; publicJwk: JsonWebKey }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicJwk: (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey };
}

/** Registers a new key pair's public key with `api` (the tenant's own, unsigned, by default) and returns its signer. */
export async function registerSigningKey(tenant: Tenant, api = tenant.api, name = 'test signer'): Promise<Signer> {
  const { privateKey, publicJwk } = await ed25519KeyPair();
  const { x } = publicJwk;
  const created = await api.POST('/v1/signing-keys', { body: { name, public_key: { kty: 'OKP', crv: 'Ed25519', x: x ?? '' } } });
  expect(created.response.status, JSON.stringify(created.error)).toBe(201);
  const keyId = created.data?.id ?? '';
  return { keyId, privateKey, api: apiClient({ apiKey: tenant.key.secret, signing: { keyId, privateKey } }) };
}

/** Registers a key and turns the requirement on with a request it signs. */
export async function requireSignedRequests(tenant: Tenant): Promise<Signer> {
  const signer = await registerSigningKey(tenant);
  const turnedOn = await signer.api.PUT('/v1/organization/request-signing', { body: { required: true } });
  expect(turnedOn.response.status, JSON.stringify(turnedOn.error)).toBe(200);
  return signer;
}

export interface HandSignature {
  components?: string[];
  /** Seconds since the epoch; now by default. */
  created?: number;
  nonce?: string;
  keyId: string;
  privateKey: CryptoKey;
  /** Parameters after the ones the API requires, as serialised text (`;alg="hmac-sha256"`). */
  extraParams?: string;
}

/**
 * Signs `request` by hand, covering `components` (derived ones from its URL and method, fields from
 * its headers), so a test can make the signatures the client never would.
 */
export async function signByHand(request: Request, options: HandSignature): Promise<Request> {
  const components = options.components ?? ['@method', '@target-uri', 'content-digest'];
  const url = new URL(request.url);
  const derived: Record<string, string> = { '@method': request.method, '@target-uri': request.url, '@path': url.pathname };
  const params = `${signatureParamsValue(components, {
    created: options.created ?? Math.floor(Date.now() / 1000),
    keyid: options.keyId,
    nonce: options.nonce ?? crypto.randomUUID(),
  })}${options.extraParams ?? ''}`;
  const lines = components.map((name) => ({ id: `"${name}"`, value: derived[name] ?? request.headers.get(name) ?? '' }));
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: 'Ed25519' }, options.privateKey, new TextEncoder().encode(signatureBase(lines, params))),
  );
  request.headers.set('Signature-Input', `${SIGNATURE_LABEL}=${params}`);
  request.headers.set('Signature', `${SIGNATURE_LABEL}=:${toBase64(signature)}:`);
  return request;
}
