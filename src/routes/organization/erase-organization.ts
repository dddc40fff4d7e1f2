import * as apiKeyCache from '../../db/api-key-cache.ts';
import * as apiKeys from '../../db/api-keys.ts';
import * as tombstones from '../../db/organization-tombstones.ts';
import * as organizations from '../../db/organizations.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { erasureConfirmation, OrganizationErasureRequestSchema, OrganizationErasureSchema } from '../../schemas/organization-erasure.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { startErasure } from '../../workflows/start-erasure.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';

export const eraseOrganizationRoute = defineRoute({
  method: 'delete',
  path: '/v1/organization',
  operationId: 'eraseOrganization',
  tags: ['Organization'],
  summary: 'Erase the organisation',
  description: [
    'Deletes the organisation and everything it has, for good (GDPR art. 17): its API keys, devices, sessions and their message history, webhook endpoints, deliveries and attempts, events, audit events, saved idempotent responses and export archives. It cannot be undone.',
    'The body must confirm it: `{"confirm": "erase org_…"}` with the organisation’s own id; anything else is a 422 `erasure_not_confirmed` and changes nothing.',
    'At once, in the request: every API key of the organisation is revoked (this one included: the answer is the last thing it gets), the organisation is marked as being erased (so authentication refuses any of its keys, even one a concurrent request created), and its tombstone is written. The key stops working at once on the Worker instance that answers, and within 30 s on every other. Then a background job closes every open session socket (close code 4010 `organization_erased`) within seconds, and deletes the rest in bounded batches: minutes for a small organisation, about an hour for one with 100,000 devices and sessions.',
    'What remains is the tombstone: the organisation’s id, when, and by which key — nothing else. The answer is that tombstone; keep it, since no key of the organisation can ask anything afterwards. Send an `Idempotency-Key`: if the database commits but its reply is lost, the answer is still the tombstone. A repeat after a lost answer is a 401, which means the erasure was accepted.',
  ].join('\n\n'),
  scope: 'organization:admin',
  rateLimit: 'write',
  signed: true,
  // Under a key, an answer whose reply is lost after the batch committed is read back and given
  // (commit.ts): the caller still learns its tombstone. A repeat cannot replay it: the key is revoked.
  idempotent: 'atomic',
  request: {
    body: { required: true, content: { 'application/json': { schema: OrganizationErasureRequestSchema } } },
  },
  responses: {
    202: {
      description: 'Accepted: the keys are revoked, and the erasure job deletes the rest.',
      content: { 'application/json': { schema: OrganizationErasureSchema } },
    },
    409: problemResponse('The organisation is being erased already (`conflict`): a concurrent request asked first.'),
    422: problemResponse('`confirm` is not `erase ` followed by the organisation’s id (`erasure_not_confirmed`); nothing was changed.'),
  },
});

export const eraseOrganization: AppRouteHandler<typeof eraseOrganizationRoute> = async (c) => {
  const { orgId, keyId } = c.get('auth');
  const { confirm } = c.req.valid('json');
  if (confirm !== erasureConfirmation(orgId)) {
    throw new ApiError('erasure_not_confirmed', {
      detail: `To erase this organisation and everything it has, send {"confirm": "${erasureConfirmation(orgId)}"}.`,
      errors: [{ location: 'body', pointer: '/confirm', detail: 'Not the confirmation this organisation needs', code: 'mismatch' }],
    });
  }
  const { db, erasure } = c.get('config');
  const now = nowIso();
  const tombstone = { orgId, erasedAt: now, erasedByKeyId: keyId };
  const erased = await commit(
    c,
    {
      statements: [
        organizations.markOrganizationErased(db, orgId, now),
        apiKeys.revokeOrganizationKeys(db, orgId, now),
        tombstones.insertTombstone(db, tombstone),
      ],
      conditional: true,
      afterCommit: async () => {
        apiKeyCache.forgetOrganization(orgId);
        // The erasure is committed: a job that cannot be started now is started by the hourly run
        // (scheduled.ts), which finds every organisation marked erased. The answer stands.
        await startErasure(erasure, { kind: 'organization', orgId }).catch((error: unknown) =>
          c.get('logger').error('could not start the erasure job; the hourly run will', { org_id: orgId, error }),
        );
      },
    },
    { status: 202, json: { org_id: orgId, status: 'erasing' as const, erased_at: now, erased_by_key_id: keyId } },
  );
  if (erased) return erased;
  throw new ApiError('conflict', { detail: 'This organisation is being erased already.' });
};
