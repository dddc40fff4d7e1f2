/**
 * @module
 * Webhook signing secrets as the Standard Webhooks specification has them: `whsec_` and the key's
 * bytes in standard base64. 32 random bytes: HMAC-SHA256's block-size guidance asks for at least
 * its output length, and the specification allows 24 to 64. At rest each is sealed (lib/encryption.ts)
 * for its endpoint's row alone.
 */
const SECRET_BYTES = 32;
const WEBHOOK_SECRET_PREFIX = 'whsec_';

export function generateWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
  return `${WEBHOOK_SECRET_PREFIX}${btoa(String.fromCharCode(...bytes))}`;
}

/** What a sealed secret is bound to: a sealed value copied to another endpoint or organisation does not open. */
export function webhookSecretSealingContext(orgId: string, endpointId: string): string {
  return `webhook-endpoints\n${orgId}\n${endpointId}`;
}
