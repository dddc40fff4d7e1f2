import * as signingKeys from '../../db/signing-keys.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { importVerifyingKey } from '../../lib/signature-verification.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import { SIGNING_KEY_CREATE_EXAMPLE, SigningKeyCreateSchema, SigningKeySchema } from '../../schemas/signing-keys.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { presentSigningKey, signingKeyLocation } from './present.ts';

// RFC 9421 Appendix B.1.4 publishes this key's private half: anyone could sign with it.
const PUBLISHED_TEST_KEY = 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs';

export const createSigningKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/signing-keys',
  operationId: 'createSigningKey',
  tags: ['Request signing'],
  summary: 'Register a signing key',
  description: `Registers an Ed25519 public key (a JWK) that the organisation's signers sign sensitive requests with (RFC 9421); its id is the \`keyid\` their signatures name. The private key never leaves the signer: a JWK holding \`d\` is refused. At most ${signingKeys.MAX_SIGNING_KEYS} keys per organisation. Once the organisation requires signed requests, registering a key must itself be signed by one already registered, so a stolen API key cannot add its own.`,
  scope: 'organization:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: {
    body: { required: true, content: { 'application/json': { schema: SigningKeyCreateSchema, example: SIGNING_KEY_CREATE_EXAMPLE } } },
  },
  responses: {
    201: {
      description: 'The key.',
      headers: locationHeader("The key's URL."),
      content: { 'application/json': { schema: SigningKeySchema } },
      links: {
        GetSigningKey: { operationId: 'getSigningKey', parameters: { id: '$response.body#/id' }, description: 'Read the key.' },
        RevokeSigningKey: { operationId: 'revokeSigningKey', parameters: { id: '$response.body#/id' }, description: 'Revoke the key.' },
      },
    },
    409: problemResponse(`The organisation has ${signingKeys.MAX_SIGNING_KEYS} signing keys already (\`limit_reached\`).`),
  },
});

function refusedKey(detail: string, code: string): ApiError {
  return new ApiError('validation_failed', {
    detail: `body/public_key/x: ${detail}`,
    errors: [{ location: 'body', pointer: '/public_key/x', detail, code }],
  });
}

export const createSigningKey: AppRouteHandler<typeof createSigningKeyRoute> = async (c) => {
  const input = c.req.valid('json');
  const { orgId, keyId } = c.get('auth');
  const { db } = c.get('config');
  const { x } = input.public_key;
  if (x === PUBLISHED_TEST_KEY) throw refusedKey('This is RFC 9421’s published test key: its private key is public.', 'published_key');
  await importVerifyingKey(x).catch((error: unknown) => {
    throw new ApiError('validation_failed', { ...refusedKey('Not an Ed25519 public key.', 'invalid_key'), cause: error });
  });
  const now = nowIso();
  const key: signingKeys.SigningKeyRecord = {
    id: newId('signingKey'),
    orgId,
    name: input.name,
    publicKey: x,
    createdAt: now,
    createdBy: keyId,
  };
  const created = await commit(
    c,
    {
      statements: [
        signingKeys.insertSigningKey(db, key),
        await auditEvent(c, 'signing_key.created', key.id, now, { onlyIfChanged: true }),
        changeEvent(c, 'signing_key.created', presentSigningKey(key), now, { onlyIfChanged: true }),
      ],
      conditional: true,
    },
    { status: 201, headers: { Location: signingKeyLocation(key.id) }, json: presentSigningKey(key) },
  );
  if (created) return created;
  throw new ApiError('limit_reached', {
    detail: `The organisation has ${signingKeys.MAX_SIGNING_KEYS} signing keys, as many as it may: revoke one first.`,
  });
};
