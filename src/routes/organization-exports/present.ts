/**
 * @module
 * Exports as the API shows them.
 */
import type { z } from '@hono/zod-openapi';
import type * as organizationExports from '../../db/organization-exports.ts';
import type { OrganizationExportSchema } from '../../schemas/organization-exports.ts';

export function exportLocation(id: string): string {
  return `/v1/organization/exports/${id}`;
}

export function archiveLocation(id: string): string {
  return `${exportLocation(id)}/archive`;
}

export function presentExport(record: organizationExports.ExportRecord): z.infer<typeof OrganizationExportSchema> {
  return {
    id: record.id,
    status: record.status,
    progress: { ...record.progress },
    created_at: record.createdAt,
    created_by: record.createdBy,
    started_at: record.startedAt,
    completed_at: record.completedAt,
    expires_at: record.expiresAt,
    size_bytes: record.sizeBytes,
    error_code: record.errorCode,
    archive_url: record.status === 'succeeded' ? archiveLocation(record.id) : null,
  };
}
