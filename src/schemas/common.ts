/**
 * @module
 * Shared building blocks: timestamps, ids, pagination.
 */
import { z } from '@hono/zod-openapi';
import { type IdKind, idPattern } from '../lib/ids.ts';

export const TimestampSchema = z.iso.datetime().openapi({ description: 'ISO 8601 time in UTC.', example: '2026-11-29T06:00:00.000Z' });

/** A time a client sends: any ISO 8601 offset accepted, normalised to UTC. */
export const TimestampInputSchema = z.iso
  .datetime({ offset: true })
  .transform((value) => new Date(value).toISOString())
  .openapi({ type: 'string', format: 'date-time', example: '2026-11-29T06:00:00Z' });

/** A name the customer gives an object: 1–100 characters, not only spaces; `what` says what it is for. */
export function nameSchema(what: string, example: string) {
  return z
    .string()
    .min(1)
    .max(100)
    .regex(/\S/, 'Must contain a non-space character')
    .openapi({ description: `${what}, 1–100 characters, not only spaces.`, example });
}

export function idSchema(kind: IdKind, description: string, example: string) {
  return z.string().regex(idPattern(kind)).openapi({ description, example });
}

/**
 * An optional query filter, shown in the reference without the example its schema carries
 * elsewhere: the reference pre-fills every example into "Test Request", and a pre-filled filter
 * narrows the first click to an empty page (or a 400, for an id of another organisation). What it
 * takes is still in its type, enum and description.
 */
export function queryFilter<Schema extends z.ZodType>(schema: Schema, description: string) {
  return schema.optional().openapi({ description, example: undefined });
}

export const PaginationQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ type: 'integer', minimum: 1, maximum: 100, default: 20, description: 'How many items to return, 1–100.', example: 20 }),
  // No example: only a `next_cursor` the API issued to this organisation is valid, so any fixed one is a 400.
  cursor: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .openapi({ description: 'The `next_cursor` of the previous page; omit it for the first page.' }),
});

export const NextCursorSchema = z.string().nullable().openapi({
  description:
    'Pass as `cursor` to get the next page; `null` on the last page. Follow it until it is `null`: a filtered page examines a bounded number of items, so it can hold fewer than `limit` (even none) and still have a next page.',
  example: null,
});
