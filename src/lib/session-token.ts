/**
 * @module
 * Connect tokens: short-lived JWTs (jose) that let one participant open a WebSocket to one
 * session. HS256 only, pinned on both sides; `iss`, `aud`, `sub`, `sid`, `org`, `kid`, `jti`,
 * `iat`, `nbf` and `exp` (at most 15 minutes after issue) are all required. `kid` is the API key
 * that minted the token, in the payload (it names no signing key, so it stays out of the header):
 * connect refuses a token whose key has since been revoked or has expired, and revoking the key
 * closes the sockets opened with its tokens. Verification refuses `alg: none`, any other
 * algorithm, another signing secret, another session, and tokens outside their time window.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { newId } from './ids.ts';

export const TOKEN_ISSUER = 'switchyard';
export const TOKEN_AUDIENCE = 'switchyard:session';
export const MAX_TOKEN_TTL_SECONDS = 15 * 60;
/** Tolerated clock difference between the minting and the verifying isolate. */
const CLOCK_TOLERANCE_SECONDS = 5;

export interface ConnectClaims {
  /** The participant: a device id or `client:<label>`. */
  sub: string;
  /** The session id. */
  sid: string;
  /** The organisation id. */
  org: string;
  /** The API key that minted the token (the `kid` claim). */
  keyId: string;
  jti: string;
  exp: number;
}

const keys = new Map<string, Uint8Array>();
function keyFor(secret: string): Uint8Array {
  let key = keys.get(secret);
  if (!key) {
    key = new TextEncoder().encode(secret);
    keys.set(secret, key);
  }
  return key;
}

export async function mintConnectToken(
  secret: string,
  claims: { participant: string; sessionId: string; orgId: string; keyId: string; ttlSeconds: number },
): Promise<{ token: string; jti: string; expiresAt: Date }> {
  const ttl = Math.min(Math.max(1, Math.floor(claims.ttlSeconds)), MAX_TOKEN_TTL_SECONDS);
  const now = Math.floor(Date.now() / 1000);
  const jti = newId('tokenId');
  const token = await new SignJWT({ sid: claims.sessionId, org: claims.orgId, kid: claims.keyId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(claims.participant)
    .setJti(jti)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + ttl)
    .sign(keyFor(secret));
  return { token, jti, expiresAt: new Date((now + ttl) * 1000) };
}

export type TokenRejection = 'malformed' | 'bad_signature' | 'expired' | 'not_yet_valid' | 'wrong_claims' | 'wrong_session';

export class TokenRejected extends Error {
  readonly reason: TokenRejection;
  constructor(reason: TokenRejection) {
    super(`connect token rejected: ${reason}`);
    this.name = 'TokenRejected';
    this.reason = reason;
  }
}

function rejectionOf(error: unknown): TokenRejection {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) return error.claim === 'nbf' ? 'not_yet_valid' : 'wrong_claims';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  return 'malformed';
}

/** The token's claims when it is valid for `sessionId`; throws {@link TokenRejected} otherwise. */
export async function verifyConnectToken(secret: string, token: string, sessionId: string): Promise<ConnectClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keyFor(secret), {
      algorithms: ['HS256'],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['sub', 'sid', 'org', 'kid', 'jti', 'iat', 'nbf', 'exp'],
      maxTokenAge: MAX_TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (error) {
    throw new TokenRejected(rejectionOf(error));
  }
  const { sub, sid, org, kid, jti, exp, iat } = payload;
  if (
    typeof sub !== 'string' ||
    typeof sid !== 'string' ||
    typeof org !== 'string' ||
    typeof kid !== 'string' ||
    typeof jti !== 'string' ||
    typeof exp !== 'number' ||
    typeof iat !== 'number'
  ) {
    throw new TokenRejected('wrong_claims');
  }
  // A token minted for longer than the maximum is refused even within its window.
  if (exp - iat > MAX_TOKEN_TTL_SECONDS) throw new TokenRejected('wrong_claims');
  if (sid !== sessionId) throw new TokenRejected('wrong_session');
  return { sub, sid, org, keyId: kid, jti, exp };
}
