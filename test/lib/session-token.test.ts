import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_TTL_SECONDS, mintConnectToken, TOKEN_AUDIENCE, TOKEN_ISSUER, verifyConnectToken } from '../../src/lib/session-token.ts';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const KEY = new TextEncoder().encode(SECRET);
const SESSION = 'ses_3Jd8Pq1Wx6Rz0Nv5Tb2Ly7';

function base64url(value: object): string {
  return btoa(JSON.stringify(value)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function validClaims(now = Math.floor(Date.now() / 1000)) {
  return {
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    sub: 'client:x',
    sid: SESSION,
    org: 'org_1',
    kid: 'key_1',
    jti: 'tok_1',
    iat: now,
    nbf: now,
    exp: now + 60,
  };
}

/** A token for `client:x` of SESSION, minted by key_1 of org_1. */
function mintForClient(ttlSeconds: number) {
  return mintConnectToken(SECRET, { participant: 'client:x', sessionId: SESSION, orgId: 'org_1', keyId: 'key_1', ttlSeconds });
}

async function signed(claims: Record<string, unknown>, alg = 'HS256', key: Uint8Array = KEY): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
}

describe('connect tokens', () => {
  it('round-trips', async () => {
    const { token } = await mintForClient(60);
    await expect(verifyConnectToken(SECRET, token, SESSION)).resolves.toMatchObject({
      sub: 'client:x',
      sid: SESSION,
      org: 'org_1',
      keyId: 'key_1',
    });
  });

  it('names the minting API key in the payload (`kid`), not in the header, where it would name a signing key', async () => {
    const { token } = await mintForClient(60);
    expect(decodeJwt(token).kid).toBe('key_1');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('caps the lifetime at 15 minutes when minting', async () => {
    const { expiresAt } = await mintForClient(3600);
    expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(MAX_TOKEN_TTL_SECONDS * 1000);
  });

  it.each([
    ['alg none', async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(validClaims())}.`, 'malformed'],
    ['HS512', () => signed(validClaims(), 'HS512'), 'malformed'],
    [
      'another key',
      () => signed(validClaims(), 'HS256', new TextEncoder().encode('another-secret-of-at-least-32-bytes!!')),
      'bad_signature',
    ],
    ['another session', () => signed({ ...validClaims(), sid: 'ses_other' }), 'wrong_session'],
    [
      'an expired token',
      () => signed({ ...validClaims(Math.floor(Date.now() / 1000) - 120), exp: Math.floor(Date.now() / 1000) - 60 }),
      'expired',
    ],
    ['a token not yet valid', () => signed({ ...validClaims(), nbf: Math.floor(Date.now() / 1000) + 120 }), 'not_yet_valid'],
    ['a token minted for an hour', () => signed({ ...validClaims(), exp: Math.floor(Date.now() / 1000) + 3600 }), 'wrong_claims'],
    ['a missing jti', () => signed({ ...validClaims(), jti: undefined }), 'wrong_claims'],
    // Without the minting key, neither a revocation nor the key's expiry could stop the token.
    ['a missing kid', () => signed({ ...validClaims(), kid: undefined }), 'wrong_claims'],
    ['a kid that is not a string', () => signed({ ...validClaims(), kid: 7 }), 'wrong_claims'],
    ['a missing exp', () => signed({ ...validClaims(), exp: undefined }), 'wrong_claims'],
    ['another audience', () => signed({ ...validClaims(), aud: 'someone-else' }), 'wrong_claims'],
    ['another issuer', () => signed({ ...validClaims(), iss: 'evil' }), 'wrong_claims'],
    ['garbage', async () => 'not.a.jwt', 'malformed'],
  ])('refuses %s', async (_, make, reason) => {
    await expect(verifyConnectToken(SECRET, await make(), SESSION)).rejects.toMatchObject({ name: 'TokenRejected', reason });
  });

  it('refuses a tampered payload', async () => {
    const { token } = await mintForClient(60);
    const [header, , signature] = token.split('.');
    const forged = `${header}.${base64url({ ...validClaims(), sub: 'client:admin' })}.${signature}`;
    await expect(verifyConnectToken(SECRET, forged, SESSION)).rejects.toMatchObject({ reason: 'bad_signature' });
  });
});
