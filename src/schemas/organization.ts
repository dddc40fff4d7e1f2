/**
 * @module
 * The organisation the API key belongs to, as the key sees it (`/v1/organization`): its name, plan
 * and default API version.
 */
import { z } from '@hono/zod-openapi';
import { API_VERSION_HEADER, API_VERSION_PATTERN, API_VERSIONS, NEWEST_API_VERSION } from '../versions/versions.ts';
import { idSchema, TimestampSchema } from './common.ts';
import { PLANS } from './plans.ts';

export const ORGANIZATION_EXAMPLE_ID = 'org_5Tn2Hq8Vw1Xc7Rb4Mz9Kd6';

const NameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/\S/, 'Must contain a non-space character')
  .openapi({ description: 'The organisation’s name, 1–100 characters, not only spaces.', example: 'Acme Logistics' });

const DEFAULT_API_VERSION_DESCRIPTION = `The API version a request without \`${API_VERSION_HEADER}\` is rendered in: the newest when the organisation was created, the first (\`${API_VERSIONS[0]}\`) for one created before versions existed. Change it to upgrade every integration that sends no header at once (docs/versioning.md).`;

/**
 * As a response shows it: a date, not an enum. Every release adds a version, and a response enum
 * that grows breaks a client that switches over it exhaustively (oasdiff rightly calls it breaking);
 * the versions there are, are in the spec's \`info.x-api-versions\`.
 */
const DefaultApiVersionSchema = z
  .string()
  .regex(API_VERSION_PATTERN)
  .openapi({
    description: `${DEFAULT_API_VERSION_DESCRIPTION} One of the versions in \`info.x-api-versions\`.`,
    example: NEWEST_API_VERSION,
  });

/** As a request sets it: one of the released versions. */
const DefaultApiVersionInputSchema = z
  .enum(API_VERSIONS)
  .openapi({ description: DEFAULT_API_VERSION_DESCRIPTION, example: NEWEST_API_VERSION });

export const OrganizationSchema = z
  .object({
    id: idSchema('organization', 'The organisation id.', ORGANIZATION_EXAMPLE_ID),
    name: NameSchema,
    plan: z.enum(PLANS).openapi({ description: 'The plan: its rate limits and how long data is kept.', example: 'pro' }),
    default_api_version: DefaultApiVersionSchema,
    created_at: TimestampSchema.openapi({ description: 'When the organisation was created.' }),
    updated_at: TimestampSchema.nullable().openapi({ description: 'When it last changed; `null` if never.' }),
    version: z.int().min(1).openapi({ description: 'Counts changes; the `ETag` is derived from it.', example: 1 }),
  })
  .openapi('Organization', { description: 'The organisation the calling API key belongs to.' });

export const OrganizationUpdateSchema = z
  .object({
    name: NameSchema.optional(),
    default_api_version: DefaultApiVersionInputSchema.optional(),
  })
  .strict()
  .refine((update) => Object.keys(update).length > 0, 'An update must change at least one field')
  .openapi('OrganizationUpdate', {
    description: 'The fields to change; at least one. The plan and the rate limits are not changed here.',
    minProperties: 1,
  });

/** What the reference pre-fills: a rename, which any version of the organisation accepts. */
export const ORGANIZATION_UPDATE_EXAMPLE = { name: 'Acme Logistics' } satisfies z.input<typeof OrganizationUpdateSchema>;

export const ORGANIZATION_ETAG_HEADER = {
  ETag: {
    description: 'The entity tag of this version of the organisation, for `If-Match`.',
    required: true,
    schema: { type: 'string', example: '"v3"' },
  },
} as const;

// No example: only the ETag of the organisation's current version is valid, so any fixed one is a 412.
export const OrganizationIfMatchHeaderSchema = z.object({
  'If-Match': z.string().max(1024).optional().openapi({
    description: 'The `ETag` you last read: the change is made only if the organisation is still at that version (else 412).',
  }),
});
