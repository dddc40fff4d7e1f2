/**
 * @module
 * The organisation as the API shows it, and reading the caller's own.
 */
import type { z } from '@hono/zod-openapi';
import * as organizations from '../../db/organizations.ts';
import { ApiError } from '../../errors.ts';
import type { OrganizationSchema } from '../../schemas/organization.ts';

export function presentOrganization(org: organizations.OrganizationRecord): z.infer<typeof OrganizationSchema> {
  return {
    id: org.id,
    name: org.name,
    plan: org.plan,
    default_api_version: org.apiVersion,
    created_at: org.createdAt,
    updated_at: org.updatedAt,
    version: org.version,
  };
}

/** The calling key's organisation; a 404 only if it was erased since the key was cached. */
export async function loadOrganization(db: D1Database, orgId: string): Promise<organizations.OrganizationRecord> {
  const org = await organizations.getOrganization(db, orgId);
  if (!org) throw new ApiError('not_found', { detail: 'The organisation no longer exists.' });
  return org;
}
