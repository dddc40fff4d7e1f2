/**
 * @module
 * Webhook endpoints: where an organisation's events are delivered. The URL's schema checks its
 * form; where it may point (https to a public host; http to loopback outside production) is
 * checked by the handlers with the deployment's environment (lib/webhook-url.ts). The signing
 * secret appears only in the responses that create it.
 */
import { z } from '@hono/zod-openapi';
import { MAX_WEBHOOK_URL_LENGTH } from '../lib/webhook-url.ts';
import { idSchema, NextCursorSchema, PaginationQuerySchema, TimestampSchema } from './common.ts';
import { WEBHOOK_EVENT_TYPES, WebhookEventTypeSchema } from './webhook-events.ts';

/** At most this many endpoints per organisation (Stripe allows 16): each event fans out to all of them. */
export const MAX_WEBHOOK_ENDPOINTS = 20;
/** How long the secret a rotation replaced still signs deliveries, beside the new one. */
export const PREVIOUS_SECRET_SECONDS = 24 * 3600;

export const WEBHOOK_ENDPOINT_EXAMPLE_ID = 'whe_5Tn8Qc2Vx7Lm4Rb9Kw1Yz6';

export const WebhookEndpointIdSchema = idSchema('webhookEndpoint', 'The webhook endpoint id.', WEBHOOK_ENDPOINT_EXAMPLE_ID);

export const WebhookEndpointPathSchema = z.object({
  id: WebhookEndpointIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

const UrlSchema = z
  .string()
  .min(1)
  .max(MAX_WEBHOOK_URL_LENGTH)
  .openapi({
    description: `Where events are POSTed, at most ${MAX_WEBHOOK_URL_LENGTH} characters: \`https://\` to a public host. Loopback, private, link-local, shared (CGNAT) and cloud metadata addresses are refused in every spelling, as are a user name or password in the URL and a fragment; outside production, \`http://\` (or https) to a loopback host is allowed, for a receiver on your machine. Stored as normalised by the WHATWG URL parser.`,
    format: 'uri',
    example: 'https://hooks.example.com/switchyard',
  });

const DescriptionSchema = z
  .string()
  .max(500)
  .openapi({ description: 'What the endpoint is for, at most 500 characters.', example: 'Order service, production' });

const EventTypesSchema = z
  .array(WebhookEventTypeSchema)
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((types) => new Set(types).size === types.length, 'Event types must not repeat')
  .openapi({
    description: 'The event types delivered to this endpoint, each once; `null` delivers every type, those added later included.',
    uniqueItems: true,
    example: ['device.created', 'device.deleted'],
  });

const EnabledSchema = z
  .boolean()
  .openapi({ description: 'Whether events are delivered to it; a disabled endpoint receives nothing.', example: true });

export const WebhookEndpointSchema = z
  .object({
    id: WebhookEndpointIdSchema,
    url: UrlSchema,
    description: DescriptionSchema,
    event_types: EventTypesSchema.nullable(),
    enabled: EnabledSchema,
    previous_secret_expires_at: TimestampSchema.nullable().openapi({
      description: 'After a rotation, until when deliveries are also signed with the secret it replaced; `null` when none is.',
    }),
    created_at: TimestampSchema.openapi({ description: 'When the endpoint was created.' }),
    updated_at: TimestampSchema.openapi({ description: 'When the endpoint, or its secret, last changed.' }),
    version: z.int().min(1).openapi({ description: 'Counts changes; the `ETag` is derived from it.', example: 1 }),
  })
  .openapi('WebhookEndpoint', { description: 'A webhook endpoint of the organisation. Its secret is never shown here.' });

export const WebhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]{43}=$/)
  .openapi({
    description:
      'The signing secret, shown only in this response: `whsec_` and 32 random bytes in base64, as the Standard Webhooks specification has it. Deliveries carry `webhook-signature: v1,<base64 HMAC-SHA256>` made with the bytes. Switchyard stores it encrypted and cannot show it again.',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw6kGqAlf6ayI=',
  });

export const WebhookEndpointWithSecretSchema = WebhookEndpointSchema.extend({ secret: WebhookSecretSchema }).openapi(
  'WebhookEndpointWithSecret',
  { description: 'A webhook endpoint with its signing secret, shown this once.' },
);

export const WebhookEndpointCreateSchema = z
  .object({
    url: UrlSchema,
    description: DescriptionSchema.optional(),
    event_types: EventTypesSchema.nullable().optional(),
    enabled: EnabledSchema.optional(),
  })
  .strict()
  .openapi('WebhookEndpointCreate', {
    description: 'An endpoint to create. Omitted fields: no description, every event type, enabled.',
  });

/** What the reference pre-fills and the TypeScript sample sends: a second "Test Request" creates a second endpoint, as it should. */
export const WEBHOOK_ENDPOINT_CREATE_EXAMPLE = {
  url: 'https://hooks.example.com/switchyard',
  description: 'Order service',
  event_types: ['device.created', 'device.deleted'],
} satisfies z.input<typeof WebhookEndpointCreateSchema>;

export const WebhookEndpointUpdateSchema = z
  .object({
    url: UrlSchema.optional(),
    description: DescriptionSchema.optional(),
    event_types: EventTypesSchema.nullable().optional().openapi({ description: 'Replaces the whole list; `null` delivers every type.' }),
    enabled: EnabledSchema.optional(),
  })
  .strict()
  .refine((update) => Object.keys(update).length > 0, 'An update must change at least one field')
  .openapi('WebhookEndpointUpdate', {
    description: 'The fields to change; at least one. Read-only fields (`id`, `version`, times) and the secret are refused.',
    minProperties: 1,
  });

export const WEBHOOK_ENDPOINT_UPDATE_EXAMPLE = { enabled: false } satisfies z.input<typeof WebhookEndpointUpdateSchema>;

export const WebhookEndpointListSchema = z
  .object({
    data: z.array(WebhookEndpointSchema).openapi({ description: 'Endpoints in creation order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('WebhookEndpointList', { description: 'A page of webhook endpoints.' });

export const WebhookEndpointListQuerySchema = PaginationQuerySchema.strict();

/** The ETag header of an endpoint response. */
export const WEBHOOK_ENDPOINT_ETAG_HEADER = {
  ETag: {
    description: 'The entity tag of this version of the endpoint, for `If-Match`.',
    required: true,
    schema: { type: 'string', example: '"v2"' },
  },
} as const;

// No example: only the ETag of the endpoint's current version is valid, so any fixed one is a 412.
export const WebhookEndpointIfMatchHeaderSchema = z.object({
  'If-Match': z.string().max(1024).optional().openapi({
    description: 'The `ETag` you last read: the change is made only if the endpoint is still at that version (else 412).',
  }),
});
