/**
 * @module
 * Events: what the API tells a customer's system about a change, delivered by webhook and listed by
 * GET /v1/events. Each carries the object as the API presented it when the change was made (for a
 * deletion, as it was last), so a receiver needs no read back. Every type is declared in the spec's
 * `webhooks` section, so the generated client types the body a receiver gets.
 */
import { z } from '@hono/zod-openapi';
import { ApiKeyIdSchema, ApiKeySchema } from './api-keys.ts';
import { idSchema, NextCursorSchema, PaginationQuerySchema, queryFilter, TimestampInputSchema, TimestampSchema } from './common.ts';
import { DeviceSchema } from './devices.ts';
import { OrganizationSchema } from './organization.ts';
import { OrganizationExportSchema } from './organization-exports.ts';
import { SessionIdSchema, SessionSchema } from './sessions.ts';
import { RequestSigningSchema, SigningKeySchema } from './signing-keys.ts';
import { WebhookEndpointSchema } from './webhook-endpoints.ts';
import type { TEST_EVENT_TYPE, WebhookEventType } from './webhook-events.ts';

/** How long an event is kept, whatever the plan: the window a receiver that was down has to catch up. */
export const EVENT_RETENTION_DAYS = 30;

/** The most an event's `data` may take, serialised: Standard Webhooks' advice, far above any object here. */
export const MAX_EVENT_DATA_BYTES = 64 * 1024;

export const EVENT_EXAMPLE_ID = 'msg_2KWPBgLlAfxdpx2AI54pPJ';
export const EventIdSchema = idSchema(
  'event',
  'The event id; a webhook delivers it as `webhook-id`, the same on every attempt.',
  EVENT_EXAMPLE_ID,
);

export const EventPathSchema = z.object({ id: EventIdSchema });

export const RotatedApiKeySchema = ApiKeySchema.extend({
  replaced_by: ApiKeyIdSchema.openapi({ description: 'The key that replaces this one.' }),
}).openapi('RotatedApiKey', { description: 'An API key just rotated: it works until `expires_at`, its replacement from now on.' });

export const SessionPresenceChangeSchema = z
  .object({
    session_id: SessionIdSchema,
    participant: z.string().openapi({ description: 'Who joined or left: a device id or a `client:` label.', example: 'client:agent-7' }),
    seq: z.int().min(1).openapi({
      description: "The `presence` message's `seq` in the session's stream: where the participants saw it happen.",
      example: 42,
    }),
    at: TimestampSchema.openapi({ description: "When it happened (the `presence` message's `ts`)." }),
  })
  .strict()
  .openapi('SessionPresenceChange', { description: 'A participant joining or leaving a session, as its `presence` message announced it.' });

export type SessionPresenceChange = z.infer<typeof SessionPresenceChangeSchema>;

/** What each event type says happened; the spec's `webhooks` entries and the event schemas share it. */
export const EVENT_DESCRIPTIONS = {
  'device.created': 'A device was registered.',
  'device.updated': 'A device was changed: `data` is the device after the change.',
  'device.deleted': 'A device was deleted: `data` is the device as it was last.',
  'session.created': 'A session was opened.',
  'session.ended': 'A session was ended by a request (`end_reason` `ended`); one that runs out its TTL emits nothing.',
  'session.participant_joined':
    "A participant joined a session: its first connection opened (another of the same participant's, or a reconnect within the grace period, announces nothing). Written within seconds, by the session's room: `data.seq` orders one session's presence events.",
  'session.participant_left':
    'A participant left a session: its last connection closed (after the grace period, when it dropped), or it was removed. Ending the session announces no leaves.',
  'api_key.created': 'An API key was created (never with its secret).',
  'api_key.rotated': 'An API key was rotated: `data` is the old key, which works until its `expires_at`, naming its replacement.',
  'api_key.revoked': 'An API key was revoked: `data` is the key as it was last.',
  'webhook_endpoint.disabled':
    'A webhook endpoint was disabled after 5 days of failed deliveries: `data` is the endpoint, now `enabled: false`. Its other events are not delivered to it until it is enabled again.',
  'signing_key.created': 'A signing key was registered: `data` is its public key.',
  'request_signing.updated':
    'The request-signing policy was set (`PUT /v1/organization/request-signing`): `data` is the policy after the request.',
  'signing_key.revoked': 'A signing key was revoked: `data` is the key as it was last. Signatures made with it no longer verify.',
  'organization.updated':
    'The organisation was changed (its name, or its default API version): `data` is the organisation after the change.',
  'organization_export.created': 'An export of the organisation was asked for: `data` is the export, `queued`.',
  'organization_export.succeeded': 'An export finished: its archive can be downloaded from `data.archive_url` until `data.expires_at`.',
  'organization_export.failed': 'An export failed (`data.error_code` says why); nothing can be downloaded. Ask for a new one.',
  'webhook.test':
    'A test, asked for by POST /v1/webhook-endpoints/{id}/test and sent to that endpoint only: `data` is the endpoint. No change happened; no endpoint subscribes to it.',
} as const satisfies Partial<Record<WebhookEventType | typeof TEST_EVENT_TYPE, string>>;

function eventSchema<Type extends keyof typeof EVENT_DESCRIPTIONS, Data extends z.ZodType>(type: Type, name: string, data: Data) {
  return z
    .object({
      id: EventIdSchema,
      type: z.literal(type).openapi({ description: 'What happened.' }),
      created_at: TimestampSchema.openapi({ description: 'When the change was made.' }),
      data,
    })
    .strict()
    .openapi(name, { description: EVENT_DESCRIPTIONS[type] });
}

/** Every event type the API emits, with what its `data` holds; the spec's `webhooks` section lists them. */
export const EVENT_SCHEMAS = {
  'device.created': eventSchema('device.created', 'DeviceCreatedEvent', DeviceSchema),
  'device.updated': eventSchema('device.updated', 'DeviceUpdatedEvent', DeviceSchema),
  'device.deleted': eventSchema('device.deleted', 'DeviceDeletedEvent', DeviceSchema),
  'session.created': eventSchema('session.created', 'SessionCreatedEvent', SessionSchema),
  'session.participant_joined': eventSchema('session.participant_joined', 'SessionParticipantJoinedEvent', SessionPresenceChangeSchema),
  'session.participant_left': eventSchema('session.participant_left', 'SessionParticipantLeftEvent', SessionPresenceChangeSchema),
  'session.ended': eventSchema('session.ended', 'SessionEndedEvent', SessionSchema),
  'api_key.created': eventSchema('api_key.created', 'ApiKeyCreatedEvent', ApiKeySchema),
  'api_key.rotated': eventSchema('api_key.rotated', 'ApiKeyRotatedEvent', RotatedApiKeySchema),
  'api_key.revoked': eventSchema('api_key.revoked', 'ApiKeyRevokedEvent', ApiKeySchema),
  'webhook_endpoint.disabled': eventSchema('webhook_endpoint.disabled', 'WebhookEndpointDisabledEvent', WebhookEndpointSchema),
  'signing_key.created': eventSchema('signing_key.created', 'SigningKeyCreatedEvent', SigningKeySchema),
  'request_signing.updated': eventSchema('request_signing.updated', 'RequestSigningUpdatedEvent', RequestSigningSchema),
  'signing_key.revoked': eventSchema('signing_key.revoked', 'SigningKeyRevokedEvent', SigningKeySchema),
  'organization.updated': eventSchema('organization.updated', 'OrganizationUpdatedEvent', OrganizationSchema),
  'organization_export.created': eventSchema('organization_export.created', 'OrganizationExportCreatedEvent', OrganizationExportSchema),
  'organization_export.succeeded': eventSchema(
    'organization_export.succeeded',
    'OrganizationExportSucceededEvent',
    OrganizationExportSchema,
  ),
  'organization_export.failed': eventSchema('organization_export.failed', 'OrganizationExportFailedEvent', OrganizationExportSchema),
  'webhook.test': eventSchema('webhook.test', 'WebhookTestEvent', WebhookEndpointSchema),
} as const;

export type EmittedEventType = keyof typeof EVENT_SCHEMAS;

/** The operationId of an event type's entry in the spec's `webhooks` (`device.created` → `deviceCreatedWebhook`), by which version changes name it. */
export function webhookOperationId(type: EmittedEventType): string {
  return `${type.replace(/[._](\w)/g, (_match, letter: string) => letter.toUpperCase())}Webhook`;
}
export const EMITTED_EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EmittedEventType[];
export type EventData<Type extends EmittedEventType> = z.infer<(typeof EVENT_SCHEMAS)[Type]>['data'];

export const EventSchema = z
  .discriminatedUnion('type', [
    EVENT_SCHEMAS['device.created'],
    EVENT_SCHEMAS['device.updated'],
    EVENT_SCHEMAS['device.deleted'],
    EVENT_SCHEMAS['session.created'],
    EVENT_SCHEMAS['session.participant_joined'],
    EVENT_SCHEMAS['session.participant_left'],
    EVENT_SCHEMAS['session.ended'],
    EVENT_SCHEMAS['api_key.created'],
    EVENT_SCHEMAS['api_key.rotated'],
    EVENT_SCHEMAS['api_key.revoked'],
    EVENT_SCHEMAS['webhook_endpoint.disabled'],
    EVENT_SCHEMAS['signing_key.created'],
    EVENT_SCHEMAS['request_signing.updated'],
    EVENT_SCHEMAS['signing_key.revoked'],
    EVENT_SCHEMAS['organization.updated'],
    EVENT_SCHEMAS['organization_export.created'],
    EVENT_SCHEMAS['organization_export.succeeded'],
    EVENT_SCHEMAS['organization_export.failed'],
    EVENT_SCHEMAS['webhook.test'],
  ])
  .openapi('Event', { description: 'One change, as a webhook delivers it and GET /v1/events lists it.' });

export const EventListSchema = z
  .object({
    data: z.array(EventSchema).openapi({ description: 'Events in the order they happened, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('EventList', { description: 'A page of events.' });

const EmittedEventTypeSchema = z.enum(EMITTED_EVENT_TYPES as [EmittedEventType, ...EmittedEventType[]]);

export const EventListQuerySchema = PaginationQuerySchema.extend({
  type: queryFilter(EmittedEventTypeSchema, 'Only events of this type (the key needs its scope).'),
  since: queryFilter(
    TimestampInputSchema,
    `Only events at or after this time. Events are kept ${EVENT_RETENTION_DAYS} days: an earlier time lists from the oldest kept.`,
  ),
  until: queryFilter(TimestampInputSchema, 'Only events before this time.'),
}).strict();
