/**
 * @module
 * Erasing an organisation (`DELETE /v1/organization`): the confirmation it needs and what it answers.
 */
import { z } from '@hono/zod-openapi';
import { ApiKeyIdSchema } from './api-keys.ts';
import { idSchema, TimestampSchema } from './common.ts';

/** What `confirm` must say: the words and the organisation's id, which neither a typo nor a fuzzer produces by chance. */
export function erasureConfirmation(orgId: string): string {
  return `erase ${orgId}`;
}

export const OrganizationErasureRequestSchema = z
  .object({
    confirm: z.string().max(200).openapi({
      description:
        '`erase ` followed by the organisation’s own id, exactly (`erase org_…`). Anything else is a 422 `erasure_not_confirmed` and changes nothing.',
      example: 'erase org_4Hc9XbQ2LmT7rVz1NpKs3w',
    }),
  })
  .strict()
  .openapi('OrganizationErasureRequest', { description: 'The confirmation that the whole organisation is to be erased.' });

export const OrganizationErasureSchema = z
  .object({
    org_id: idSchema('organization', 'The organisation being erased.', 'org_4Hc9XbQ2LmT7rVz1NpKs3w'),
    status: z.literal('erasing').openapi({
      description: 'Always `erasing`: every key is revoked already, and the erasure job is deleting the rest in the background.',
    }),
    erased_at: TimestampSchema.openapi({ description: 'When the erasure was accepted: the time its tombstone records.' }),
    erased_by_key_id: ApiKeyIdSchema.openapi({ description: 'The API key that asked for it, as the tombstone records it.' }),
  })
  .openapi('OrganizationErasure', {
    description:
      'The organisation’s tombstone: what remains of it once it is erased (its id, when, and by which key), kept so the erasure itself can be shown. Keep this answer: no key of the organisation works any more, so nothing can be asked about it afterwards.',
  });
