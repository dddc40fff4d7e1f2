/**
 * RFC 9421 and RFC 9530 test vectors, verbatim from the RFCs' appendices (RFC 8792 line wrapping
 * undone): Ed25519 signing and verification of RFC 9421 B.2.6 and the B.4 transformations with
 * `test-key-ed25519` (B.1.4), and the Content-Digest examples of RFC 9530 §2 and Appendix B. Then
 * what the API's own signatures must survive and refuse.
 */
import { describe, expect, it } from 'vitest';
import { contentDigest, importSigningKey, SIGNED_COMPONENTS, signatureParamsValue, signRequest } from '../../src/lib/http-signature.ts';
import {
  checkContentDigest,
  receivedSignature,
  requestSignatureBase,
  SignatureError,
  verifyEd25519,
} from '../../src/lib/signature-verification.ts';

// RFC 9421 Appendix B.1.4, in JWK format.
const TEST_KEY_ED25519 = {
  kty: 'OKP',
  crv: 'Ed25519',
  kid: 'test-key-ed25519',
  d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU',
  x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs',
};

const encode = (text: string) => new Uint8Array(new TextEncoder().encode(text));

// RFC 9421 Appendix B.2: `test-request`.
function testRequest(extra: Record<string, string> = {}): Request {
  return new Request('https://example.com/foo?param=Value&Pet=dog', {
    method: 'POST',
    headers: {
      Host: 'example.com',
      Date: 'Tue, 20 Apr 2021 02:07:55 GMT',
      'Content-Type': 'application/json',
      'Content-Digest': 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
      'Content-Length': '18',
      ...extra,
    },
    body: '{"hello": "world"}',
  });
}

// RFC 9421 Appendix B.2.6.
const B26_BASE = [
  '"date": Tue, 20 Apr 2021 02:07:55 GMT',
  '"@method": POST',
  '"@path": /foo',
  '"@authority": example.com',
  '"content-type": application/json',
  '"content-length": 18',
  '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
].join('\n');
const B26_INPUT =
  'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
const B26_SIGNATURE = 'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:';

// RFC 9421 Appendix B.4: the message signed with `transform`, and changes that keep or break it.
const TRANSFORM_INPUT = 'transform=("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519"';
const TRANSFORM_SIGNATURE = 'transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:';

function transformed(method: string, url: string, headers: Array<[string, string]>): Request {
  const list = new Headers();
  for (const [name, value] of headers) list.append(name, value);
  list.set('Signature-Input', TRANSFORM_INPUT);
  list.set('Signature', TRANSFORM_SIGNATURE);
  return new Request(url, { method, headers: list });
}

async function verifies(request: Request): Promise<boolean> {
  const signature = receivedSignature(request.headers);
  return verifyEd25519(TEST_KEY_ED25519.x, requestSignatureBase(request, signature), signature.signature);
}

describe('RFC 9421 Appendix B.2.6: signing a request using ed25519', () => {
  it('rebuilds the signature base of test-request from its Signature-Input', () => {
    const request = testRequest({ 'Signature-Input': B26_INPUT, Signature: B26_SIGNATURE });
    expect(requestSignatureBase(request, receivedSignature(request.headers))).toBe(B26_BASE);
  });

  it('verifies the published signature with test-key-ed25519', async () => {
    expect(await verifies(testRequest({ 'Signature-Input': B26_INPUT, Signature: B26_SIGNATURE }))).toBe(true);
  });

  it('reproduces the published signature byte for byte (Ed25519 is deterministic)', async () => {
    const key = await importSigningKey(TEST_KEY_ED25519);
    const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, encode(B26_BASE)));
    expect(`sig-b26=:${btoa(String.fromCharCode(...signature))}:`).toBe(B26_SIGNATURE);
  });

  it('refuses the published signature once a covered component changes', async () => {
    const changed = testRequest({ 'Signature-Input': B26_INPUT, Signature: B26_SIGNATURE, 'Content-Type': 'text/plain' });
    expect(await verifies(changed)).toBe(false);
  });
});

describe('RFC 9421 Appendix B.4: HTTP message transformations', () => {
  const original: Array<[string, string]> = [
    ['Host', 'example.org'],
    ['Date', 'Fri, 15 Jul 2022 14:24:55 GMT'],
    ['Accept', 'application/json'],
    ['Accept', '*/*'],
  ];

  it('verifies the signed message, and the ones changed only where the signature does not look', async () => {
    expect(await verifies(transformed('GET', 'https://example.org/demo?name1=Value1&Name2=value2', original))).toBe(true);
    const added = [...original, ['Accept-Language', 'en-US,en;q=0.5']] as Array<[string, string]>;
    expect(await verifies(transformed('GET', 'https://example.org/demo?name1=Value1&Name2=value2&param=added', added))).toBe(true);
    const collapsed: Array<[string, string]> = [
      ['Host', 'example.org'],
      ['Referer', 'https://developer.example.org/demo'],
      ['Accept', 'application/json, */*'],
    ];
    expect(await verifies(transformed('GET', 'https://example.org/demo?name1=Value1&Name2=value2', collapsed))).toBe(true);
  });

  it('refuses it with another method and authority, or with its Accept values reordered', async () => {
    expect(await verifies(transformed('POST', 'https://example.com/demo?name1=Value1&Name2=value2', original))).toBe(false);
    const reordered: Array<[string, string]> = [
      ['Host', 'example.org'],
      ['Accept', '*/*'],
      ['Accept', 'application/json'],
    ];
    expect(await verifies(transformed('GET', 'https://example.org/demo?name1=Value1&Name2=value2', reordered))).toBe(false);
  });
});

describe('RFC 9530 Content-Digest', () => {
  // Appendix B.1 and B.2 (`{"hello": "world"}` and an LF; empty content), B.3 (bytes 10-18), §2 (sha-512).
  const HELLO_LF = encode('{"hello": "world"}\n');

  it('computes the examples of RFC 9530', async () => {
    expect(await contentDigest(HELLO_LF)).toBe('sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:');
    expect(await contentDigest(new Uint8Array())).toBe('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
    expect(await contentDigest(encode('"world"}\n'))).toBe('sha-256=:jjcgBDWNAtbYUXI37CVG3gRuGOAjaaDRGpIUFsdyepQ=:');
    expect(await contentDigest(HELLO_LF, 'sha-512')).toBe(
      'sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:',
    );
  });

  it("checks RFC 9421's test-request digest (sha-512), and several members at once", async () => {
    const body = encode('{"hello": "world"}');
    const sha512 = 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';
    expect(await checkContentDigest(sha512, body)).toBe('match');
    expect(await checkContentDigest(`${await contentDigest(body)}, ${sha512}`, body)).toBe('match');
    expect(await checkContentDigest(sha512, encode('{"hello": "World"}'))).toBe('mismatch');
  });

  it('ignores unknown algorithms but needs a known one, and refuses what is not a dictionary of byte sequences', async () => {
    const body = encode('{}');
    expect(await checkContentDigest(`md5=:abc=:, ${await contentDigest(body)}`, body)).toBe('match');
    expect(await checkContentDigest('md5=:rL0Y20zC+Fzt72VPzMSk2A==:', body)).toBe('unsupported');
    expect(await checkContentDigest('sha-256="not bytes"', body)).toBe('malformed');
    expect(await checkContentDigest('sha-256=:abc', body)).toBe('malformed');
  });
});

describe('signRequest and the verifier', () => {
  it('signs @method, @target-uri and content-digest with created, keyid, nonce and alg, and the verifier agrees', async () => {
    const request = new Request('https://api.example.com/v1/api-keys?x=1', { method: 'POST', body: '{"name":"ci"}' });
    const privateKey = await importSigningKey(TEST_KEY_ED25519);
    await signRequest(
      request,
      encode('{"name":"ci"}'),
      { keyId: 'sig_test', privateKey },
      { created: 1_700_000_000, nonce: 'n'.repeat(22) },
    );
    expect(request.headers.get('Signature-Input')).toBe(
      `sig1=${signatureParamsValue(SIGNED_COMPONENTS, { created: 1_700_000_000, keyid: 'sig_test', nonce: 'n'.repeat(22) })}`,
    );
    expect(request.headers.get('Signature-Input')).toBe(
      'sig1=("@method" "@target-uri" "content-digest");created=1700000000;keyid="sig_test";nonce="nnnnnnnnnnnnnnnnnnnnnn";alg="ed25519"',
    );
    const signature = receivedSignature(request.headers);
    // The verifier re-serialises the inner list with structured-headers: the signer's text must be that serialisation.
    expect(signature.paramsValue).toBe(request.headers.get('Signature-Input')?.slice('sig1='.length));
    expect(await verifies(request)).toBe(true);
  });

  it('gives every signature a fresh nonce', async () => {
    const privateKey = await importSigningKey(TEST_KEY_ED25519);
    const nonces = new Set<unknown>();
    for (let index = 0; index < 5; index += 1) {
      const request = new Request('https://api.example.com/v1/signing-keys', { method: 'DELETE' });
      await signRequest(request, new Uint8Array(), { keyId: 'sig_test', privateKey });
      nonces.add(receivedSignature(request.headers).params.get('nonce'));
    }
    expect(nonces.size).toBe(5);
  });

  it('names why a signature cannot be read', () => {
    const failure = (headers: Record<string, string>) => {
      try {
        const request = new Request('https://api.example.com/', { headers });
        requestSignatureBase(request, receivedSignature(request.headers));
        return 'ok';
      } catch (error) {
        return error instanceof SignatureError ? error.failure : String(error);
      }
    };
    expect(failure({})).toBe('missing');
    expect(failure({ 'Signature-Input': B26_INPUT })).toBe('missing');
    expect(failure({ 'Signature-Input': 'sig1=("@method"', Signature: 'sig1=:AA==:' })).toBe('malformed');
    expect(failure({ 'Signature-Input': 'sig1=("@method")', Signature: 'other=:AA==:' })).toBe('malformed');
    expect(failure({ 'Signature-Input': 'sig1=("@method")', Signature: 'sig1="text"' })).toBe('malformed');
    expect(failure({ 'Signature-Input': 'sig1=("@method" "@method")', Signature: 'sig1=:AA==:' })).toBe('malformed');
    expect(failure({ 'Signature-Input': 'sig1=("@status")', Signature: 'sig1=:AA==:' })).toBe('malformed');
    expect(failure({ 'Signature-Input': 'sig1=("accept";sf)', Signature: 'sig1=:AA==:' })).toBe('malformed');
    expect(failure({ 'Signature-Input': 'sig1=("content-digest")', Signature: 'sig1=:AA==:' })).toBe('component_missing');
    expect(failure({ 'Signature-Input': 'sig1=("@method" "@target-uri")', Signature: 'sig1=:AA==:' })).toBe('ok');
  });
});
