/**
 * @module
 * An endpoint's signing secrets at rest: sealed with the storage keyring (lib/encryption.ts) and
 * bound to the endpoint's row. Shown to the caller only in the response that makes it; the hourly
 * run (scheduled.ts) re-seals them under a new STORAGE_ENCRYPTION_SECRET after a rotation.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import { seal, storageKeyring } from '../../lib/encryption.ts';
import { webhookSecretSealingContext } from '../../lib/webhook-secret.ts';

export async function sealWebhookSecret(c: Context<AppEnv>, orgId: string, endpointId: string, secret: string): Promise<string> {
  const { current, previous } = c.get('config').storageSecrets;
  return seal(await storageKeyring(current, previous), secret, webhookSecretSealingContext(orgId, endpointId));
}
