/**
 * @module
 * Signing keys (the Ed25519 public keys an organisation signs sensitive requests with, RFC 9421)
 * and the organisation's request-signing policy. Only public keys: a private key is never sent.
 */
import { z } from '@hono/zod-openapi';
import { ApiKeyIdSchema } from './api-keys.ts';
import { idSchema, NextCursorSchema, TimestampSchema } from './common.ts';

export const SIGNING_KEY_EXAMPLE_ID = 'sig_7Lq2Wn5Rt8Yb1Xc4Vz9Km3';

export const SigningKeyIdSchema = idSchema(
  'signingKey',
  'The signing key id: the `keyid` a signature made with it names.',
  SIGNING_KEY_EXAMPLE_ID,
);

export const SigningKeyPathSchema = z.object({
  id: SigningKeyIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

// RFC 9421 Appendix B.1.4's test key: an example anyone can check, and one nobody should register.
const EXAMPLE_X = 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs';

const PublicKeyXSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/, 'Must be 32 bytes of unpadded base64url')
  .openapi({ description: 'The public key: its 32 bytes as unpadded base64url (RFC 8037).', example: EXAMPLE_X });

export const PublicKeySchema = z
  .object({
    kty: z.literal('OKP').openapi({ description: 'Always `OKP` (an octet key pair).' }),
    crv: z.literal('Ed25519').openapi({ description: 'Always `Ed25519`.' }),
    x: PublicKeyXSchema,
  })
  .strict()
  .openapi('SigningPublicKey', { description: 'An Ed25519 public key as a JWK (RFC 8037).' });

/**
 * What a client sends: the JWK WebCrypto exports (`crypto.subtle.exportKey('jwk', publicKey)`) is
 * accepted as it is. Anything else is refused, a private key's `d` above all.
 */
export const PublicKeyInputSchema = PublicKeySchema.extend({
  alg: z.enum(['EdDSA', 'Ed25519']).optional().openapi({ description: 'Ignored; when present, `EdDSA` or `Ed25519`.' }),
  kid: z.string().max(200).optional().openapi({ description: 'Ignored: the key is named by the id the API gives it.' }),
  use: z.literal('sig').optional().openapi({ description: 'Ignored; when present, `sig`.' }),
  key_ops: z.array(z.literal('verify')).max(1).optional().openapi({ description: 'Ignored; when present, `["verify"]`.' }),
  ext: z.boolean().optional().openapi({ description: 'Ignored (WebCrypto’s extractable flag).' }),
})
  .strict()
  .openapi('SigningPublicKeyInput', {
    description:
      'An Ed25519 public key as a JWK (RFC 8037), e.g. what `crypto.subtle.exportKey("jwk", publicKey)` returns. Never the private key: a JWK with `d` is refused.',
  });

export const SigningKeySchema = z
  .object({
    id: SigningKeyIdSchema,
    name: z.string().openapi({ description: 'What or who signs with it.', example: 'deploy pipeline' }),
    public_key: PublicKeySchema,
    created_at: TimestampSchema.openapi({ description: 'When the key was registered.' }),
    created_by: ApiKeyIdSchema.nullable().openapi({ description: 'The API key that registered it.' }),
  })
  .strict()
  .openapi('SigningKey', { description: 'An Ed25519 public key the organisation signs sensitive requests with.' });

export const SigningKeyCreateSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/\S/, 'Must contain a non-space character')
      .openapi({ description: 'What or who signs with it, 1–100 characters, not only spaces.', example: 'deploy pipeline' }),
    public_key: PublicKeyInputSchema,
  })
  .strict()
  .openapi('SigningKeyCreate', { description: 'A public key to register. Keep its private key with the signer.' });

export const SigningKeyListSchema = z
  .object({
    data: z.array(SigningKeySchema).openapi({ description: 'Keys in registration order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('SigningKeyList', { description: 'A page of signing keys.' });

export const RequestSigningSchema = z
  .object({
    required: z.boolean().openapi({
      description:
        'Whether sensitive operations (API keys, webhook endpoints, signing keys, this policy, exports, erasure) must be signed by one of the organisation’s signing keys.',
      example: true,
    }),
  })
  .strict()
  .openapi('RequestSigning', { description: "The organisation's request-signing policy." });
