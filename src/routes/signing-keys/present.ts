/**
 * @module
 * Signing keys as the API shows them.
 */
import type { z } from '@hono/zod-openapi';
import type * as signingKeys from '../../db/signing-keys.ts';
import type { SigningKeySchema } from '../../schemas/signing-keys.ts';

export function presentSigningKey(key: signingKeys.SigningKeyRecord): z.infer<typeof SigningKeySchema> {
  return {
    id: key.id,
    name: key.name,
    public_key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey },
    created_at: key.createdAt,
    created_by: key.createdBy,
  };
}

export function signingKeyLocation(id: string): string {
  return `/v1/signing-keys/${id}`;
}
