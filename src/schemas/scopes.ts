/**
 * @module
 * The scopes an API key can carry. Each route declares the one it needs (defineRoute's `scope`).
 */
import { z } from '@hono/zod-openapi';

export const SCOPES = [
  'devices:read',
  'devices:write',
  'sessions:read',
  'sessions:write',
  'keys:admin',
  'audit:read',
  'webhooks:admin',
  'events:read',
  'organization:read',
  'organization:admin',
  'organization:export',
] as const;

export type Scope = (typeof SCOPES)[number];

export const ScopeSchema = z.enum(SCOPES).openapi('Scope', {
  description: 'A permission an API key carries. A key never grants more scopes than the key that created it.',
  example: 'devices:read',
});
