import * as organizationExports from '../../db/organization-exports.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { EMPTY_PROGRESS, OrganizationExportSchema } from '../../schemas/organization-exports.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { startExportJob } from './job.ts';
import { exportLocation, presentExport } from './present.ts';

export const createOrganizationExportRoute = defineRoute({
  method: 'post',
  path: '/v1/organization/exports',
  operationId: 'createOrganizationExport',
  tags: ['Organization exports'],
  summary: "Export the organisation's data",
  description: [
    'Asks for an archive of everything the organisation holds (devices, sessions and their retained messages, API keys without secrets, webhook endpoints without secrets, audit events, events), for access and portability requests. The archive is written in the background: the answer is the export, `queued`; follow it at `Location` until it has `succeeded`, then download it from `archive_url` within 7 days. An `organization_export.succeeded` (or `.failed`) event says when it is done.',
    'An organisation has at most one export queued or running at a time.',
  ].join('\n\n'),
  scope: 'organization:export',
  // One export at a time bounds what exports cost; the write limit bounds how often one is asked for.
  rateLimit: 'write',
  signed: true,
  idempotent: 'atomic',
  responses: {
    202: {
      description: 'The export, queued.',
      headers: locationHeader("The export's URL."),
      content: { 'application/json': { schema: OrganizationExportSchema } },
      links: {
        GetOrganizationExport: {
          operationId: 'getOrganizationExport',
          parameters: { id: '$response.body#/id' },
          description: 'Follow the export.',
        },
      },
    },
    409: problemResponse('The organisation has an export queued or running already (`export_in_progress`).'),
  },
});

export const createOrganizationExport: AppRouteHandler<typeof createOrganizationExportRoute> = async (c) => {
  const auth = c.get('auth');
  const { db, exportWorkflow } = c.get('config');
  const now = nowIso();
  const record: organizationExports.ExportRecord = {
    id: newId('organizationExport'),
    orgId: auth.orgId,
    status: 'queued',
    progress: { ...EMPTY_PROGRESS },
    createdAt: now,
    createdBy: auth.keyId,
    startedAt: null,
    completedAt: null,
    expiresAt: null,
    sizeBytes: null,
    errorCode: null,
  };
  const presented = presentExport(record);
  return commit(
    c,
    {
      statements: [
        organizationExports.insertExport(db, record),
        await auditEvent(c, 'organization_export.created', record.id, now),
        changeEvent(c, 'organization_export.created', presented, now),
      ],
      conflict: (error) =>
        organizationExports.isExportInProgressConflict(error)
          ? new ApiError('export_in_progress', {
              detail: 'The organisation has an export queued or running; follow it, and ask again once it has finished.',
            })
          : undefined,
      // Never fails (the answer is saved already): an export whose job could not start now stays
      // queued, and the hourly check (scheduled.ts) starts it.
      afterCommit: async () => {
        try {
          await startExportJob(exportWorkflow, { orgId: auth.orgId, exportId: record.id });
        } catch (error) {
          c.get('logger').warn('could not start the export job; the hourly check will', { export_id: record.id, error });
        }
      },
    },
    { status: 202, headers: { Location: exportLocation(record.id) }, json: presented },
  );
};
