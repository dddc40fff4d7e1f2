/**
 * @module
 * API key records as the API shows them.
 */
import type { z } from '@hono/zod-openapi';
import type * as apiKeys from '../../db/api-keys.ts';
import type { ApiKeySchema } from '../../schemas/api-keys.ts';

export function presentApiKey(key: apiKeys.ApiKeyRecord): z.infer<typeof ApiKeySchema> {
  return {
    id: key.id,
    name: key.name,
    mode: key.mode,
    prefix: key.prefix,
    scopes: key.scopes,
    expires_at: key.expiresAt,
    created_at: key.createdAt,
    created_by: key.createdBy,
    last_used_at: key.lastUsedAt,
  };
}

export function apiKeyLocation(id: string): string {
  return `/v1/api-keys/${id}`;
}
