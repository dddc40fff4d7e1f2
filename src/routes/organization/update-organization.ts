import { forgetOrganization } from '../../db/api-key-cache.ts';
import * as organizations from '../../db/organizations.ts';
import { ApiError, requireIfMatch } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { versionEtag } from '../../lib/etag.ts';
import {
  ORGANIZATION_ETAG_HEADER,
  ORGANIZATION_UPDATE_EXAMPLE,
  OrganizationIfMatchHeaderSchema,
  OrganizationSchema,
  OrganizationUpdateSchema,
} from '../../schemas/organization.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { loadOrganization, presentOrganization } from './present.ts';

/** Without If-Match, a write that lost a race is retried on the new version this many times. */
const ATTEMPTS = 3;

export const updateOrganizationRoute = defineRoute({
  method: 'patch',
  path: '/v1/organization',
  operationId: 'updateOrganization',
  tags: ['Organization'],
  summary: 'Update the organisation',
  description:
    'Changes the given fields only; with `If-Match`, only if the organisation has not changed since. A new `default_api_version` applies to requests without `Switchyard-Version` at once on this Worker and within 30 seconds everywhere (API keys are cached that long); this answer is rendered in the version the request was made in.',
  scope: 'organization:admin',
  rateLimit: 'write',
  signed: true,
  idempotent: 'atomic',
  request: {
    headers: OrganizationIfMatchHeaderSchema,
    body: {
      required: true,
      content: { 'application/json': { schema: OrganizationUpdateSchema, example: ORGANIZATION_UPDATE_EXAMPLE } },
    },
  },
  responses: {
    200: {
      description: 'The organisation as changed.',
      headers: ORGANIZATION_ETAG_HEADER,
      content: { 'application/json': { schema: OrganizationSchema } },
    },
    404: problemResponse('The organisation no longer exists (`not_found`).'),
    409: problemResponse('The organisation kept changing while this update was made (`conflict`); try again.'),
    412: problemResponse('`If-Match` does not name the current version: read the organisation again.'),
  },
});

export const updateOrganization: AppRouteHandler<typeof updateOrganizationRoute> = async (c) => {
  const patch = c.req.valid('json');
  const ifMatch = c.req.valid('header')['If-Match'];
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const current = await loadOrganization(db, orgId);
    requireIfMatch(ifMatch, current.version, 'organization');
    const now = nowIso();
    const next: organizations.OrganizationRecord = {
      ...current,
      name: patch.name ?? current.name,
      apiVersion: patch.default_api_version ?? current.apiVersion,
      updatedAt: now,
      version: current.version + 1,
    };
    const updated = await commit(
      c,
      {
        statements: [
          organizations.updateOrganization(db, next, current.version),
          await auditEvent(c, 'organization.updated', orgId, now, { onlyIfChanged: true }),
          changeEvent(c, 'organization.updated', presentOrganization(next), now, { onlyIfChanged: true }),
        ],
        conditional: true,
        // The organisation's keys carry its default version: this isolate reads them again at once.
        afterCommit: () => forgetOrganization(orgId),
      },
      { status: 200, headers: { ETag: versionEtag(next.version) }, json: presentOrganization(next) },
    );
    if (updated) return updated;
    if (ifMatch !== undefined) {
      throw new ApiError('precondition_failed', { detail: 'The organisation changed while this update was made; read it again.' });
    }
  }
  throw new ApiError('conflict', { detail: 'The organisation kept changing while this update was made; try again.' });
};
