import * as signingKeys from '../../db/signing-keys.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { SigningKeyPathSchema } from '../../schemas/signing-keys.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { loadSigningKey } from './load.ts';
import { presentSigningKey } from './present.ts';

export const revokeSigningKeyRoute = defineRoute({
  method: 'delete',
  path: '/v1/signing-keys/{id}',
  operationId: 'revokeSigningKey',
  tags: ['Request signing'],
  summary: 'Revoke a signing key',
  description:
    'Signatures made with the key stop verifying at once, on every Worker instance (keys are read from the database for each signed request); it is no longer found, and revoking it again is a 404. Once the organisation requires signed requests, revoking must itself be signed, and the last key cannot be revoked (409): register its replacement first, or turn the requirement off.',
  scope: 'organization:admin',
  rateLimit: 'write',
  idempotent: 'atomic',
  signed: true,
  request: { params: SigningKeyPathSchema },
  responses: {
    204: { description: 'Revoked.' },
    409: problemResponse('The organisation requires signed requests and this is its last signing key (`last_signing_key`).'),
  },
});

export const revokeSigningKey: AppRouteHandler<typeof revokeSigningKeyRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const current = await loadSigningKey(db, orgId, id);
  const now = nowIso();
  const revoked = await commit(
    c,
    {
      statements: [
        signingKeys.revokeSigningKey(db, orgId, id, now),
        await auditEvent(c, 'signing_key.revoked', id, now, { onlyIfChanged: true }),
        changeEvent(c, 'signing_key.revoked', presentSigningKey(current), now, { onlyIfChanged: true }),
      ],
      conditional: true,
    },
    { status: 204 },
  );
  if (revoked) return revoked;
  // Revoked meanwhile (404), or kept as the last key while signed requests are required.
  await loadSigningKey(db, orgId, id);
  throw new ApiError('last_signing_key', {
    detail: `Signing key ${id} is the organisation's last, and it requires signed requests: register another first, or turn the requirement off.`,
  });
};
