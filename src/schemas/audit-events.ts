/**
 * @module
 * Audit events: the durable record of every change.
 */
import { z } from '@hono/zod-openapi';
import { ApiKeyIdSchema } from './api-keys.ts';
import { idSchema, NextCursorSchema, PaginationQuerySchema, queryFilter, TimestampInputSchema, TimestampSchema } from './common.ts';

export const AUDIT_ACTIONS = [
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'device.created',
  'device.updated',
  'device.deleted',
  'organization.updated',
  'session.created',
  'session.ended',
  'session.token_issued',
  'webhook_endpoint.created',
  'webhook_endpoint.updated',
  'webhook_endpoint.deleted',
  'webhook_endpoint.secret_rotated',
  'webhook_endpoint.disabled',
  'webhook_endpoint.event_resent',
  'webhook_endpoint.recovered',
  'webhook_endpoint.tested',
  'signing_key.created',
  'signing_key.revoked',
  'request_signing.updated',
  'organization_export.created',
  'organization_export.downloaded',
] as const;

export const AUDIT_TARGET_TYPES = [
  'api_key',
  'device',
  'organization',
  'session',
  'webhook_endpoint',
  'signing_key',
  'request_signing',
  'organization_export',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

const ActionSchema = z.enum(AUDIT_ACTIONS).openapi({ description: 'What happened.', example: 'api_key.created' });
const TargetTypeSchema = z.enum(AUDIT_TARGET_TYPES).openapi({ description: 'The kind of object it happened to.', example: 'api_key' });

export const AuditEventSchema = z
  .object({
    id: idSchema('auditEvent', 'The event id.', 'evt_7Qm2Zx9LkT4rVb8NpWc1Hs'),
    action: ActionSchema,
    target_type: TargetTypeSchema,
    target_id: z.string().openapi({ description: 'The id of the object.', example: 'key_4Hc9XbQ2LmT7rVz1NpKs3w' }),
    actor_key_id: ApiKeyIdSchema.nullable().openapi({ description: 'The API key that made the change; `null` for bootstrap actions.' }),
    request_id: z.string().openapi({ description: 'The request that made the change.', example: 'req_3f2b0c1e9d8a4f6b' }),
    ip_hash: z.string().nullable().openapi({
      description: 'A keyed hash of the client IP (the same IP gives the same value); never the IP itself.',
      example: '9b2c4d6e8f0a1b3c5d7e9f0a2b4c6d8e',
    }),
    user_agent: z
      .string()
      .nullable()
      .openapi({ description: "The client's User-Agent, cut to 256 characters.", example: 'switchyard-cli/1.0' }),
    created_at: TimestampSchema.openapi({ description: 'When it happened.' }),
  })
  .openapi('AuditEvent', { description: 'One change, recorded in the same transaction as the change itself.' });

export const AuditEventListSchema = z
  .object({
    data: z.array(AuditEventSchema).openapi({ description: 'Events in time order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('AuditEventList', { description: 'A page of audit events.' });

export const AuditEventQuerySchema = PaginationQuerySchema.extend({
  action: queryFilter(ActionSchema, 'Only events of this action.'),
  target_type: queryFilter(TargetTypeSchema, 'Only events about objects of this kind.'),
  target_id: queryFilter(z.string().min(1).max(64), 'Only events about this object.'),
  since: queryFilter(TimestampInputSchema, 'Only events at or after this time.'),
  until: queryFilter(TimestampInputSchema, 'Only events before this time.'),
}).strict();
