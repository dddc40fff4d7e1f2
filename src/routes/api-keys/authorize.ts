/**
 * @module
 * The rule for every operation that makes, rotates or revokes a key: a caller acts only on keys it
 * could have created itself. A key's scopes must be a subset of the caller's, and a new key may not
 * outlive the caller. Rotating a wider key would hand the caller a secret with scopes it lacks;
 * revoking one would let a narrow `keys:admin` key (a leaked integration key, say) lock the
 * organisation's wider keys out.
 */
import type { Context } from 'hono';
import type { AppEnv, AuthContext } from '../../context.ts';
import * as apiKeys from '../../db/api-keys.ts';
import { ApiError } from '../../errors.ts';
import type { Scope } from '../../schemas/scopes.ts';

/** 403 `insufficient_scope` unless every scope in `scopes` is one the caller holds. */
export function requireScopesWithinCaller(auth: AuthContext, scopes: readonly Scope[], action: string): void {
  const beyondCaller = scopes.filter((scope) => !auth.scopes.includes(scope));
  if (beyondCaller.length > 0) {
    throw new ApiError('insufficient_scope', {
      detail: `A key cannot ${action} a key with scopes it does not hold: ${beyondCaller.join(', ')}.`,
      // An escalation attempt: a key asking for a key stronger than itself.
      security: { reason: 'scope_beyond_caller', details: { scopes: beyondCaller.join(' ') } },
    });
  }
}

/** 403 `key_outlives_caller` when a key expiring at `expiresAt` (null: never) would outlive the caller. */
export function requireExpiryWithinCaller(auth: AuthContext, expiresAt: string | null): void {
  if (auth.expiresAt === null) return;
  if (expiresAt === null || expiresAt > auth.expiresAt) {
    throw new ApiError('key_outlives_caller', {
      detail: `This API key's expiry is ${auth.expiresAt}; a key it creates must expire by then (set expires_in_seconds).`,
      security: { reason: 'expiry_beyond_caller' },
    });
  }
}

/**
 * 403 unless the caller holds every scope of key `id`. A key that does not exist (or was revoked) is
 * left to the handler, which answers 404, or to the replay of the caller's own earlier result.
 */
export async function requireKeyWithinCaller(c: Context<AppEnv>, id: string, action: string): Promise<void> {
  const auth = c.get('auth');
  const target = await apiKeys.getApiKey(c.get('config').db, auth.orgId, id);
  if (target) requireScopesWithinCaller(auth, target.scopes, action);
}
