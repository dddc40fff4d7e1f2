import { z } from '@hono/zod-openapi';
import * as exportObjects from '../../db/export-objects.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { ARCHIVE_CONTENT_TYPE, ARCHIVE_FORMAT_DESCRIPTION, ExportPathSchema } from '../../schemas/organization-exports.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { archiveFilename, archiveStream } from './archive.ts';
import { loadExport } from './load.ts';

export const getOrganizationExportArchiveRoute = defineRoute({
  method: 'get',
  path: '/v1/organization/exports/{id}/archive',
  operationId: 'getOrganizationExportArchive',
  tags: ['Organization exports'],
  summary: "Download an export's archive",
  description: [
    'Streams the archive of an export that has succeeded, until it expires. Every download is recorded in the audit log (`organization_export.downloaded`): the archive holds all of the organisation’s data.',
    ARCHIVE_FORMAT_DESCRIPTION,
  ].join('\n\n'),
  scope: 'organization:export',
  rateLimit: 'read',
  request: { params: ExportPathSchema },
  responses: {
    200: {
      description: 'The archive, a tar file of NDJSON parts and a manifest.',
      headers: {
        'Content-Disposition': {
          description: '`attachment`, with the file name `switchyard-export-{id}.tar`.',
          required: true,
          schema: { type: 'string' },
        },
        'Content-Length': {
          description: "The archive's size, as the export's `size_bytes` says.",
          required: true,
          schema: { type: 'integer' },
        },
        'Cache-Control': { description: 'Always `no-store`: the archive holds personal data.', required: true, schema: { type: 'string' } },
      },
      content: { [ARCHIVE_CONTENT_TYPE]: { schema: z.string().openapi({ type: 'string', format: 'binary' }) } },
    },
    409: problemResponse('The export is still queued or running, or it failed: it has no archive (`export_not_ready`).'),
    410: problemResponse('The archive was kept 7 days and is deleted (`export_expired`): ask for a new export.'),
  },
});

export const getOrganizationExportArchive: AppRouteHandler<typeof getOrganizationExportArchiveRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { orgId } = c.get('auth');
  const { db, exports } = c.get('config');
  const record = await loadExport(db, orgId, id);
  const now = nowIso();
  if (record.status === 'expired' || (record.status === 'succeeded' && record.expiresAt !== null && record.expiresAt <= now)) {
    throw new ApiError('export_expired', { detail: `The archive of export ${id} expired on ${record.expiresAt}; ask for a new export.` });
  }
  if (record.status !== 'succeeded') {
    throw new ApiError('export_not_ready', {
      detail:
        record.status === 'failed'
          ? `Export ${id} failed (${record.errorCode}); it has no archive. Ask for a new export.`
          : `Export ${id} is ${record.status}; download it once it has succeeded.`,
    });
  }
  const manifest = await exportObjects.getManifest(exports, orgId, id);
  if (manifest === undefined)
    throw new ApiError('export_expired', { detail: `The archive of export ${id} is deleted; ask for a new export.` });
  // Recorded before the first byte leaves: a download that is not in the audit log never starts.
  // Not through commit(): the answer is a stream, not a JSON body to save with the change.
  await (await auditEvent(c, 'organization_export.downloaded', id, now)).run();
  const { body, size, written } = archiveStream(exports, manifest);
  const logger = c.get('logger');
  // Not waitUntil: the request lives as long as its body is read, and a caller that waits for every
  // waitUntil before reading the body (as the tests' callWorker does) would wait for ever.
  void written.catch((error: unknown) => logger.error('export download aborted', { export_id: id, error }));
  c.header('Content-Type', ARCHIVE_CONTENT_TYPE);
  c.header('Content-Disposition', `attachment; filename="${archiveFilename(id)}"`);
  // The length the FixedLengthStream will send, stated for callers that read the Response in process.
  c.header('Content-Length', String(size));
  c.header('Cache-Control', 'no-store');
  return c.body(body, 200);
};
