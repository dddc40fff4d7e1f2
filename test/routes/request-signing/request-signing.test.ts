/**
 * Signed requests for sensitive operations (middleware/request-signature.ts), through the generated
 * client and its `signing` option, and through hand-made requests for what the client never sends:
 * the happy path, each refusal and its reason, replays, bodies changed after signing, other
 * organisations' and revoked keys, and the policy that cannot be turned off (or its last key
 * revoked) without a signature.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { contentDigest, signRequest } from '../../../src/lib/http-signature.ts';
import { ACCEPT_SIGNATURE, SIGNATURE_WINDOW_SECONDS } from '../../../src/middleware/request-signature.ts';
import type { Scope } from '../../../src/schemas/scopes.ts';
import { expectProblem } from '../../helpers/problem.ts';
import { ed25519KeyPair, registerSigningKey, requireSignedRequests, type Signer, signByHand } from '../../helpers/signing.ts';
import { createTenant, type Tenant } from '../../helpers/tenants.ts';
import { BASE_URL, callWorker } from '../../helpers/worker.ts';

const NEW_KEY: { name: string; scopes: Scope[] } = { name: 'signed', scopes: ['devices:read'] };

/** A raw POST /v1/api-keys from the tenant, not yet signed. */
function createKeyRequest(tenant: Tenant, body: string = JSON.stringify(NEW_KEY), headers: Record<string, string> = {}): Request {
  return new Request(`${BASE_URL}/v1/api-keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json', ...headers },
    body,
  });
}

async function signed(request: Request, signer: Pick<Signer, 'keyId' | 'privateKey'>): Promise<Request> {
  await signRequest(request, new Uint8Array(await request.clone().arrayBuffer()), signer);
  return request;
}

async function expectSignatureRefusal(source: Response | { response: Response; error?: unknown }, code: string) {
  const response = source instanceof Response ? source : source.response;
  expect(response.headers.get('Accept-Signature')).toBe(ACCEPT_SIGNATURE);
  expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="switchyard"');
  return expectProblem(source, 401, code);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('when the organisation does not require signed requests', () => {
  it('lets an unsigned sensitive request through, and a signed one too', async () => {
    const tenant = await createTenant();
    const unsigned = await tenant.api.POST('/v1/api-keys', { body: NEW_KEY });
    expect(unsigned.response.status).toBe(201);
    const signer = await registerSigningKey(tenant);
    expect((await signer.api.POST('/v1/api-keys', { body: NEW_KEY })).response.status).toBe(201);
    expect((await tenant.api.GET('/v1/organization/request-signing')).data).toEqual({ required: false });
  });

  it('refuses to turn the requirement on without a signature, or with a key it does not know', async () => {
    const tenant = await createTenant();
    await expectSignatureRefusal(
      await tenant.api.PUT('/v1/organization/request-signing', { body: { required: true } }),
      'signature_missing',
    );
    const { privateKey } = await ed25519KeyPair();
    const request = new Request(`${BASE_URL}/v1/organization/request-signing`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${tenant.key.secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ required: true }),
    });
    await expectSignatureRefusal(
      await callWorker(await signed(request, { keyId: 'sig_0000000000000000000000', privateKey })),
      'signing_key_unknown',
    );
    expect((await tenant.api.GET('/v1/organization/request-signing')).data).toEqual({ required: false });
  });
});

describe('signing keys', () => {
  it('registers the JWK WebCrypto exports as it is, and lists, reads and revokes it', async () => {
    const tenant = await createTenant();
    const { publicJwk } = await ed25519KeyPair();
    expect(publicJwk).toMatchObject({ key_ops: ['verify'], ext: true });
    const created = await tenant.api.POST('/v1/signing-keys', {
      body: { name: 'laptop', public_key: publicJwk as { kty: 'OKP'; crv: 'Ed25519'; x: string } },
    });
    expect(created.response.status).toBe(201);
    const id = created.data?.id ?? '';
    expect(created.response.headers.get('Location')).toBe(`/v1/signing-keys/${id}`);
    expect(created.data).toMatchObject({
      id: expect.stringMatching(/^sig_/),
      name: 'laptop',
      public_key: { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x },
      created_by: tenant.key.id,
    });
    expect((await tenant.api.GET('/v1/signing-keys')).data?.data.map((key) => key.id)).toEqual([id]);
    expect((await tenant.api.GET('/v1/signing-keys/{id}', { params: { path: { id } } })).data).toEqual(created.data);

    const other = await createTenant();
    await expectProblem(await other.api.GET('/v1/signing-keys/{id}', { params: { path: { id } } }), 404, 'not_found');
    await expectProblem(await other.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id } } }), 404, 'not_found');

    expect((await tenant.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id } } })).response.status).toBe(204);
    await expectProblem(await tenant.api.GET('/v1/signing-keys/{id}', { params: { path: { id } } }), 404, 'not_found');
    const actions = (await tenant.api.GET('/v1/audit-events', { params: { query: { target_type: 'signing_key' } } })).data?.data;
    expect(actions?.map((event) => [event.action, event.target_id])).toEqual([
      ['signing_key.created', id],
      ['signing_key.revoked', id],
    ]);
  });

  it('refuses a private key, a key that is not 32 bytes, and the RFC test key whose private half is public', async () => {
    const tenant = await createTenant();
    const { publicJwk } = await ed25519KeyPair();
    const register = (public_key: Record<string, unknown>) =>
      tenant.api.POST('/v1/signing-keys', { body: { name: 'bad', public_key: public_key as { kty: 'OKP'; crv: 'Ed25519'; x: string } } });
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    const withD = await expectProblem(await register({ ...privateJwk, key_ops: undefined }), 400, 'validation_failed');
    expect(JSON.stringify(withD.errors)).toContain('d');
    await expectProblem(await register({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x?.slice(0, 40) }), 400, 'validation_failed');
    await expectProblem(await register({ kty: 'EC', crv: 'P-256', x: publicJwk.x }), 400, 'validation_failed');
    const rfcKey = await expectProblem(
      await register({ kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' }),
      400,
      'validation_failed',
    );
    expect(rfcKey.errors?.[0]).toMatchObject({ pointer: '/public_key/x', code: 'published_key' });
  });

  it('needs organization:admin', async () => {
    const tenant = await createTenant();
    const narrow = await tenant.addKey({ scopes: ['keys:admin', 'webhooks:admin'] });
    const response = await callWorker('/v1/signing-keys', { headers: { Authorization: `Bearer ${narrow.secret}` } });
    await expectProblem(response, 403, 'insufficient_scope');
  });
});

describe('when the organisation requires signed requests', () => {
  it('accepts a sensitive request the client signs, and refuses it unsigned', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    expect((await tenant.api.GET('/v1/organization/request-signing')).data).toEqual({ required: true });
    expect((await tenant.api.GET('/v1/organization')).data?.name).not.toBe('renamed unsigned');
    expect((await tenant.api.GET('/v1/organization/exports')).data?.data).toEqual([]);
    const created = await signer.api.POST('/v1/api-keys', { body: NEW_KEY });
    expect(created.response.status).toBe(201);
    const refused = await tenant.api.POST('/v1/api-keys', { body: NEW_KEY });
    const problem = await expectSignatureRefusal(refused, 'signature_missing');
    expect(problem.detail).toContain('Signature-Input');
    // Reads and operations that are not sensitive need no signature.
    expect((await tenant.api.GET('/v1/api-keys')).response.status).toBe(200);
    expect((await tenant.api.POST('/v1/devices', { body: { name: 'unsigned', kind: 'iot' } })).response.status).toBe(201);
  });

  it('guards every sensitive operation: API keys, webhook endpoints, signing keys, the policy and the organisation', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const key = (await signer.api.POST('/v1/api-keys', { body: NEW_KEY })).data?.id ?? '';
    const endpoint = (await signer.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/signed' } })).data?.id ?? '';
    const { publicJwk } = await ed25519KeyPair();
    const attempts = [
      tenant.api.POST('/v1/api-keys', { body: NEW_KEY }),
      tenant.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: key } }, body: { grace_period_seconds: 0 } }),
      tenant.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: key } } }),
      tenant.api.POST('/v1/webhook-endpoints', { body: { url: 'https://hooks.example.com/unsigned' } }),
      tenant.api.PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint } }, body: { url: 'https://evil.example.com/' } }),
      tenant.api.POST('/v1/webhook-endpoints/{id}/rotate-secret', { params: { path: { id: endpoint } } }),
      tenant.api.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint } } }),
      tenant.api.POST('/v1/signing-keys', { body: { name: 'attacker', public_key: { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x ?? '' } } }),
      tenant.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id: signer.keyId } } }),
      tenant.api.PUT('/v1/organization/request-signing', { body: { required: false } }),
      tenant.api.PATCH('/v1/organization', { body: { name: 'renamed unsigned' } }),
      tenant.api.POST('/v1/organization/exports'),
      tenant.api.DELETE('/v1/organization', { body: { confirm: `erase ${tenant.orgId}` } }),
    ];
    for (const attempt of await Promise.all(attempts)) await expectSignatureRefusal(attempt, 'signature_missing');
    expect((await tenant.api.GET('/v1/organization/request-signing')).data).toEqual({ required: true });
    expect((await tenant.api.GET('/v1/organization')).data?.name).not.toBe('renamed unsigned');
    expect((await tenant.api.GET('/v1/organization/exports')).data?.data).toEqual([]);
    expect((await tenant.api.GET('/v1/signing-keys')).data?.data.map((each) => each.id)).toEqual([signer.keyId]);
    expect((await tenant.api.GET('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint } } })).data?.url).toBe(
      'https://hooks.example.com/signed',
    );
    // Signed, each goes through.
    expect((await signer.api.POST('/v1/api-keys/{id}/rotate', { params: { path: { id: key } }, body: {} })).response.status).toBe(201);
    expect((await signer.api.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id: endpoint } } })).response.status).toBe(204);
  });

  it('turns the requirement off only with a signed request', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    await expectSignatureRefusal(
      await tenant.api.PUT('/v1/organization/request-signing', { body: { required: false } }),
      'signature_missing',
    );
    const off = await signer.api.PUT('/v1/organization/request-signing', { body: { required: false } });
    expect(off.data).toEqual({ required: false });
    expect((await tenant.api.POST('/v1/api-keys', { body: NEW_KEY })).response.status).toBe(201);
    const audit = (await tenant.api.GET('/v1/audit-events', { params: { query: { action: 'request_signing.updated' } } })).data?.data;
    expect(audit?.map((event) => event.target_id)).toEqual([tenant.orgId, tenant.orgId]);
  });

  it('keeps the last signing key, so the requirement can always be turned off', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const last = await signer.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id: signer.keyId } } });
    await expectProblem(last, 409, 'last_signing_key');
    const second = await registerSigningKey(tenant, signer.api, 'replacement');
    expect((await second.api.DELETE('/v1/signing-keys/{id}', { params: { path: { id: signer.keyId } } })).response.status).toBe(204);
    // The revoked key signs nothing any more.
    await expectSignatureRefusal(await signer.api.POST('/v1/api-keys', { body: NEW_KEY }), 'signing_key_unknown');
    expect((await second.api.POST('/v1/api-keys', { body: NEW_KEY })).response.status).toBe(201);
  });
});

describe('signature refusals', () => {
  it('refuses a replayed signature, even with the Idempotency-Key that made the change', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const request = await signed(createKeyRequest(tenant, undefined, { 'Idempotency-Key': 'replayed-once' }), signer);
    const replay = request.clone();
    const first = await callWorker(request);
    expect(first.status).toBe(201);
    await expectSignatureRefusal(await callWorker(replay), 'signature_replayed');
    // Signed anew, the same Idempotency-Key replays the first answer.
    const again = await callWorker(await signed(createKeyRequest(tenant, undefined, { 'Idempotency-Key': 'replayed-once' }), signer));
    expect(again.status).toBe(201);
    expect(again.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
  });

  it('refuses a body changed after signing', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const original = await signed(createKeyRequest(tenant), signer);
    const swapped = new Request(original.url, {
      method: 'POST',
      headers: original.headers,
      body: JSON.stringify({ name: 'signed', scopes: ['keys:admin'] }),
    });
    await expectSignatureRefusal(await callWorker(swapped), 'content_digest_mismatch');
    expect((await tenant.api.GET('/v1/api-keys')).data?.data).toHaveLength(1);
  });

  it("refuses another organisation's signing key, a key that did not make the signature, and a changed URL", async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const stranger = await registerSigningKey(await createTenant());
    await expectSignatureRefusal(await callWorker(await signed(createKeyRequest(tenant), stranger)), 'signing_key_unknown');

    const { privateKey } = await ed25519KeyPair();
    const forged = await signed(createKeyRequest(tenant), { keyId: signer.keyId, privateKey });
    await expectSignatureRefusal(await callWorker(forged), 'signature_invalid');

    const original = await signed(createKeyRequest(tenant), signer);
    const moved = new Request(`${BASE_URL}/v1/api-keys?moved=1`, {
      method: 'POST',
      headers: original.headers,
      body: JSON.stringify(NEW_KEY),
    });
    await expectSignatureRefusal(await callWorker(moved), 'signature_invalid');
    expect((await tenant.api.GET('/v1/api-keys')).data?.data).toHaveLength(1);
  });

  it('refuses a signature older than the window or ahead of the clock, or past its expires', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const now = Math.floor(Date.now() / 1000);
    const send = async (created: number, extraParams = '') =>
      callWorker(await signByHand(await withDigest(createKeyRequest(tenant)), { ...signer, created, extraParams }));
    const stale = await expectSignatureRefusal(await send(now - SIGNATURE_WINDOW_SECONDS - 5), 'signature_expired');
    expect(stale.detail).toContain(`${SIGNATURE_WINDOW_SECONDS} s`);
    await expectSignatureRefusal(await send(now + 120), 'signature_expired');
    await expectSignatureRefusal(await send(now, `;expires=${now - 1}`), 'signature_expired');
    expect((await send(now - 30, `;expires=${now + 60}`)).status).toBe(201);
  });

  it('refuses a signature that leaves out a required component, parameter or algorithm', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const send = async (options: { components?: string[]; extraParams?: string; nonce?: string }) =>
      callWorker(await signByHand(await withDigest(createKeyRequest(tenant)), { ...signer, ...options }));
    const noDigest = await expectSignatureRefusal(await send({ components: ['@method', '@target-uri'] }), 'signature_component_missing');
    expect(noDigest.detail).toContain('content-digest');
    await expectSignatureRefusal(await send({ components: ['@method', '@path', 'content-digest'] }), 'signature_component_missing');
    await expectSignatureRefusal(
      await send({ components: ['@method', '@target-uri', 'content-digest', 'x-absent'] }),
      'signature_component_missing',
    );
    await expectSignatureRefusal(await send({ extraParams: ';alg="hmac-sha256"' }), 'signature_malformed');
    await expectSignatureRefusal(await send({ nonce: 'short' }), 'signature_malformed');
    const garbage = createKeyRequest(tenant, undefined, { 'Signature-Input': 'sig1=("@method"', Signature: 'sig1=:AA==:' });
    await expectSignatureRefusal(await callWorker(garbage), 'signature_malformed');
    const wrongDigest = await signByHand(createKeyRequest(tenant, undefined, { 'Content-Digest': 'sha-256="text"' }), signer);
    await expectSignatureRefusal(await callWorker(wrongDigest), 'signature_malformed');
  });

  it('accepts a bodiless request signed without content-digest, and refuses a body added to it', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const key = (await signer.api.POST('/v1/api-keys', { body: NEW_KEY })).data?.id ?? '';
    const revoke = (body?: string) =>
      new Request(`${BASE_URL}/v1/api-keys/${key}`, { method: 'DELETE', headers: { Authorization: `Bearer ${tenant.key.secret}` }, body });
    const components = ['@method', '@target-uri'];
    await expectSignatureRefusal(
      await callWorker(await signByHand(revoke('{"x":1}'), { ...signer, components })),
      'signature_component_missing',
    );
    expect((await callWorker(await signByHand(revoke(), { ...signer, components }))).status).toBe(204);
  });

  it('records each refusal as a signature_refused security event with its reason', async () => {
    const tenant = await createTenant();
    const signer = await requireSignedRequests(tenant);
    const lines: string[] = [];
    vi.spyOn(console, 'warn').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    await callWorker(createKeyRequest(tenant));
    const request = await signed(createKeyRequest(tenant), signer);
    await callWorker(request.clone());
    await callWorker(request);
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'security_event');
    expect(events.map((event) => [event.event, event.reason, event.status, event.org_id])).toEqual([
      ['signature_refused', 'missing', 401, tenant.orgId],
      ['signature_refused', 'replayed', 401, tenant.orgId],
    ]);
    expect(events[1]).toMatchObject({ signing_key_id: signer.keyId, route: '/v1/api-keys', method: 'POST' });
  });
});

async function withDigest(request: Request): Promise<Request> {
  request.headers.set('Content-Digest', await contentDigest(new Uint8Array(await request.clone().arrayBuffer())));
  return request;
}
