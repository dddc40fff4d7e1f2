/**
 * @module
 * Signing keys (the Ed25519 public keys an organisation signs sensitive requests with, RFC 9421)
 * and the organisation's request-signing policy. Only public keys: a private key is never sent.
 */
import { z } from '@hono/zod-openapi';
import { ApiKeyIdSchema } from './api-keys.ts';
import { idSchema, NextCursorSchema, nameSchema, TimestampSchema } from './common.ts';

export const SIGNING_KEY_EXAMPLE_ID = 'sig_7Lq2Wn5Rt8Yb1Xc4Vz9Km3';

export const SigningKeyIdSchema = idSchema(
  'signingKey',
  'The signing key id: the `keyid` a signature made with it names.',
  SIGNING_KEY_EXAMPLE_ID,
);

export const SigningKeyPathSchema = z.object({
  id: SigningKeyIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

// Not RFC 9421's test key, which is refused (its private half is published): the reference's "Test Request" must succeed.
const EXAMPLE_X = 'YcZXLxRzXSMw1Po4uVd4Kbn9QR3oHS5l5ZqXN1Kdw0k';

/** The create body the reference pre-fills and the code samples send. */
export const SIGNING_KEY_CREATE_EXAMPLE = { name: 'deploy pipeline', public_key: { kty: 'OKP', crv: 'Ed25519', x: EXAMPLE_X } } as const;

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
    name: nameSchema('What or who signs with it', 'deploy pipeline'),
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
      // `false`: what an unsigned request (the reference's "Test Request") may set.
      example: false,
    }),
  })
  .strict()
  .openapi('RequestSigning', { description: "The organisation's request-signing policy." });
