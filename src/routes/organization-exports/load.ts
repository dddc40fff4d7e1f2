/**
 * @module
 * Reading the export a request names: 404 when it is not the organisation's.
 */
import * as organizationExports from '../../db/organization-exports.ts';
import { notFound } from '../../errors.ts';

export async function loadExport(db: D1Database, orgId: string, id: string): Promise<organizationExports.ExportRecord> {
  const record = await organizationExports.getExport(db, orgId, id);
  if (!record) throw notFound('export', id);
  return record;
}
