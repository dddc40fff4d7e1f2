/**
 * @module
 * API key resources. The secret appears in exactly one response: the one that created it.
 */
import { z } from '@hono/zod-openapi';
import { KEY_MODES } from '../lib/api-key.ts';
import { idSchema, NextCursorSchema, nameSchema, TimestampSchema } from './common.ts';
import { SCOPES, ScopeSchema } from './scopes.ts';

export const API_KEY_EXAMPLE_ID = 'key_4Hc9XbQ2LmT7rVz1NpKs3w';

export const ApiKeyIdSchema = idSchema('apiKey', 'The API key id (not the secret).', API_KEY_EXAMPLE_ID);

export const ApiKeyPathSchema = z.object({
  id: ApiKeyIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

export const ApiKeySchema = z
  .object({
    id: ApiKeyIdSchema,
    name: z.string().openapi({ description: 'What the key is for.', example: 'CI deploy bot' }),
    mode: z.enum(KEY_MODES).openapi({ description: 'Whether the key acts on live or test data.', example: 'live' }),
    prefix: z.string().openapi({ description: 'The first characters of the secret, to recognise it by.', example: 'sy_live_a1B2' }),
    scopes: z.array(ScopeSchema).openapi({ description: 'What the key may do.' }),
    expires_at: TimestampSchema.nullable().openapi({ description: 'When the key stops working; `null` for never.' }),
    created_at: TimestampSchema.openapi({ description: 'When the key was created.' }),
    created_by: ApiKeyIdSchema.nullable().openapi({ description: 'The key that created this one; `null` for bootstrap keys.' }),
    last_used_at: TimestampSchema.nullable().openapi({
      description: 'Last successful authentication, to the minute; `null` if never used.',
    }),
  })
  .openapi('ApiKey', { description: 'An API key, without its secret.' });

export const ApiKeyWithSecretSchema = ApiKeySchema.extend({
  secret: z.string().openapi({ description: 'The key itself. Shown only in this response: store it now.', example: 'sy_live_…' }),
}).openapi('ApiKeyWithSecret', { description: 'A new API key and its secret, returned once.' });

export const MAX_KEY_LIFETIME_SECONDS = 5 * 366 * 24 * 60 * 60;

export const ApiKeyCreateSchema = z
  .object({
    name: nameSchema('What the key is for', 'CI deploy bot'),
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .max(SCOPES.length)
      .refine((scopes) => new Set(scopes).size === scopes.length, 'Scopes must not repeat')
      .openapi({
        description: "What the key may do: a subset of the calling key's scopes, each once.",
        example: ['devices:read'],
        uniqueItems: true,
      }),
    expires_in_seconds: z
      .int()
      .min(60)
      .max(MAX_KEY_LIFETIME_SECONDS)
      .optional()
      .openapi({ description: 'How long the key works, 60 s to 5 years; omit for a key that does not expire.', example: 7_776_000 }),
  })
  .strict()
  .openapi('ApiKeyCreate', { description: "A key to create. Its mode is the calling key's." });

export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60;

export const ApiKeyRotateSchema = z
  .object({
    grace_period_seconds: z.int().min(0).max(MAX_GRACE_PERIOD_SECONDS).default(86_400).openapi({
      description: 'How long the old secret keeps working, 0 (stops at once) to 604800 (7 days). Default one day.',
      example: 3600,
    }),
  })
  .strict()
  .openapi('ApiKeyRotate', { description: 'How to retire the old secret.' });

export const ApiKeyListSchema = z
  .object({
    data: z.array(ApiKeySchema).openapi({ description: 'Keys in creation order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('ApiKeyList', { description: 'A page of API keys.' });
