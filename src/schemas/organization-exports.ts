/**
 * @module
 * Organisation exports: an archive of everything the organisation holds, built in the background
 * and downloaded once it is ready (GDPR access and portability). The archive's format is stated
 * here once, for the spec and the docs.
 */
import { z } from '@hono/zod-openapi';
import { ApiKeyIdSchema } from './api-keys.ts';
import { idSchema, NextCursorSchema, TimestampSchema } from './common.ts';

export const EXPORT_EXAMPLE_ID = 'exp_5Tq8Lm2XcV9bN4rZk7Hs1w';

/** How long an archive is kept once it is complete. */
export const EXPORT_RETENTION_DAYS = 7;

/** What an archive holds, in its order: one stream of NDJSON lines per resource. */
export const EXPORT_RESOURCES = ['devices', 'sessions', 'messages', 'api_keys', 'webhook_endpoints', 'audit_events', 'events'] as const;
export type ExportResource = (typeof EXPORT_RESOURCES)[number];

export const EXPORT_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'expired'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** Why an export failed: a step kept failing past its retries, or its job stopped without finishing. */
export const EXPORT_FAILURES = ['step_failed', 'stalled'] as const;
export type ExportFailure = (typeof EXPORT_FAILURES)[number];

export type ExportProgress = Record<ExportResource, number>;

export const EMPTY_PROGRESS: ExportProgress = Object.fromEntries(EXPORT_RESOURCES.map((resource) => [resource, 0])) as ExportProgress;

export const ExportIdSchema = idSchema('organizationExport', 'The export id.', EXPORT_EXAMPLE_ID);

export const ExportPathSchema = z.object({
  id: ExportIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

const count = (what: string) => z.int().min(0).openapi({ description: what, example: 0 });

export const ExportProgressSchema = z
  .object({
    devices: count('Devices written.'),
    sessions: count('Sessions written.'),
    messages: count("Sessions' retained messages written."),
    api_keys: count('API keys written.'),
    webhook_endpoints: count('Webhook endpoints written.'),
    audit_events: count('Audit events written.'),
    events: count('Events written.'),
  })
  .openapi('OrganizationExportProgress', {
    description: 'Lines written so far, per resource; the final counts once the export succeeded. Resources are written in this order.',
  });

export const OrganizationExportSchema = z
  .object({
    id: ExportIdSchema,
    status: z.enum(EXPORT_STATUSES).openapi({
      description:
        '`queued` until its job starts, `running` while it writes, then `succeeded` (the archive can be downloaded until `expires_at`) or `failed` (see `error_code`); `expired` once the archive is deleted.',
      example: 'running',
    }),
    progress: ExportProgressSchema,
    created_at: TimestampSchema.openapi({ description: 'When it was asked for.' }),
    created_by: ApiKeyIdSchema.nullable().openapi({ description: 'The API key that asked for it.' }),
    started_at: TimestampSchema.nullable().openapi({ description: 'When its job began reading; `null` while queued.' }),
    completed_at: TimestampSchema.nullable().openapi({ description: 'When it succeeded or failed; `null` while in progress.' }),
    expires_at: TimestampSchema.nullable().openapi({
      description: `When the archive (or what a failed export wrote) is deleted: ${EXPORT_RETENTION_DAYS} days after completion; \`null\` while in progress.`,
    }),
    size_bytes: z.int().min(0).nullable().openapi({ description: "The archive's size in bytes, once it succeeded.", example: 1048576 }),
    error_code: z.enum(EXPORT_FAILURES).nullable().openapi({
      description:
        'Why it failed: `step_failed` (reading or writing a part kept failing past its retries), `stalled` (its job stopped without finishing). Ask for a new export.',
      example: null,
    }),
    archive_url: z
      .string()
      .nullable()
      .openapi({
        description: 'Where to download the archive, once it succeeded and until it expires.',
        example: `/v1/organization/exports/${EXPORT_EXAMPLE_ID}/archive`,
      }),
  })
  .openapi('OrganizationExport', { description: "An export of the organisation's data, and how far it has got." });

export const OrganizationExportListSchema = z
  .object({
    data: z.array(OrganizationExportSchema).openapi({ description: 'Exports, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('OrganizationExportList', { description: 'A page of exports.' });

/** The content type of the archive. */
export const ARCHIVE_CONTENT_TYPE = 'application/x-tar';

/** The version of the archive's layout and manifest; a change that breaks a reader bumps it. */
export const ARCHIVE_FORMAT_VERSION = 1;

/** The archive's layout, for the download route's description and docs/data-export.md. */
export const ARCHIVE_FORMAT_DESCRIPTION = [
  'The archive is a POSIX tar (ustar) file, unpacked with `tar -xf`. Its entries sit under one directory, `switchyard-export-{id}/`:',
  '- `manifest.json`: `format` (`switchyard-organization-export`), `format_version`, `api_version` (the dated API version the lines are rendered in, as `Switchyard-Version` names it), `export_id`, `organization_id`, `created_at`, `completed_at`, and per resource its `lines` and its `files` (each with `path`, `lines`, `bytes`, `sha256`).',
  '- `SHA256SUMS`: the SHA-256 of every data file, as `sha256sum -c SHA256SUMS` reads it.',
  `- one directory per resource, in this order: ${EXPORT_RESOURCES.map((resource) => `\`${resource}/\``).join(', ')}. Each holds the resource as NDJSON (one JSON object a line, UTF-8, \`\\n\`-terminated) split in numbered parts \`00001.ndjson\`, \`00002.ndjson\`…: concatenated in name order they are one stream. A resource with nothing to export has no part.`,
  "Each line is the object exactly as this API presents it (`Device`, `Session`, `ApiKey` without its secret or hash, `WebhookEndpoint` without its signing secrets, `AuditEvent`, `Event`); a line of `messages/` is one of a session's retained messages as `GET /v1/sessions/{id}/messages` lists it, with the session's id added as `session_id`, ordered by session (as in `sessions/`) then `seq`.",
  "The archive is read resource by resource while the export runs, not at one instant: an object changed meanwhile appears as it was when its page was read. Revoked API keys, and what retention already deleted (events after 30 days, audit events after the plan's days, messages past the session's `history`), are not in it.",
].join('\n');

/** One data file of the archive, as the manifest lists it. */
export interface ManifestFile {
  /** Within the archive's directory: `devices/00001.ndjson`. */
  path: string;
  lines: number;
  bytes: number;
  /** Lower-case hex. */
  sha256: string;
}

/** The archive's `manifest.json`. */
export interface ExportManifest {
  format: 'switchyard-organization-export';
  format_version: typeof ARCHIVE_FORMAT_VERSION;
  api_version: string;
  export_id: string;
  organization_id: string;
  created_at: string;
  completed_at: string;
  resources: Record<ExportResource, { lines: number; files: ManifestFile[] }>;
}
