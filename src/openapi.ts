/**
 * @module
 * The OpenAPI document's fixed parts. The paths come from the route definitions; `npm run spec`
 * and `GET /openapi.json` both call {@link buildOpenApiDocument}, so they cannot disagree.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { addCodeSamples } from './code-samples.ts';
import type { AppEnv } from './context.ts';
import { type EmittedEventType, EVENT_DESCRIPTIONS, EVENT_SCHEMAS, webhookOperationId } from './schemas/events.ts';
import { registerJsonValue } from './schemas/json.ts';
import { ClientFrameSchema, ServerFrameSchema, SessionMessageSchema } from './schemas/realtime.ts';
import { API_VERSION_PARAMETER_COMPONENT, BOOKMARK_PARAMETER_COMPONENT, COMMON_HEADER_COMPONENTS } from './schemas/responses.ts';
import { API_VERSIONS_EXTENSION, versionsDescription } from './versions/spec.ts';

export const API_VERSION = '0.1.0';

/** Components the route definitions refer to by `$ref` rather than by a zod schema. */
export function registerComponents(app: OpenAPIHono<AppEnv>): void {
  for (const [name, header] of Object.entries(COMMON_HEADER_COMPONENTS)) {
    app.openAPIRegistry.registerComponent('headers', name, header);
  }
  app.openAPIRegistry.registerComponent('parameters', 'Bookmark', BOOKMARK_PARAMETER_COMPONENT);
  app.openAPIRegistry.registerComponent('parameters', 'ApiVersion', API_VERSION_PARAMETER_COMPONENT);
  // The WebSocket protocol of /v1/sessions/{id}/connect: no route body refers to most of it, so it is
  // registered by name (the frames ServerFrame is made of come with it).
  app.openAPIRegistry.register('SessionMessage', SessionMessageSchema);
  app.openAPIRegistry.register('ServerFrame', ServerFrameSchema);
  app.openAPIRegistry.register('ClientFrame', ClientFrameSchema);
  registerJsonValue(app.openAPIRegistry);
  // The spec's `webhooks`: what an endpoint subscribed to each type receives, so the generated
  // client types a receiver's body (`webhooks['device.created']`).
  for (const [type, schema] of Object.entries(EVENT_SCHEMAS)) {
    app.openAPIRegistry.registerWebhook({
      method: 'post',
      path: type,
      operationId: webhookOperationId(type as EmittedEventType),
      tags: ['Events'],
      summary: `The ${type} event`,
      description: `${EVENT_DESCRIPTIONS[type as EmittedEventType]} Sent to every enabled endpoint subscribed to \`${type}\`, rendered in the organisation's default API version when it is sent (named in its \`Switchyard-Version\` header); the same event is listed by GET /v1/events.`,
      request: { body: { required: true, content: { 'application/json': { schema } } } },
      responses: {
        200: { description: 'Any 2xx status acknowledges the event.' },
        500: { description: 'Any other status, or no answer within 15 s, is a failed attempt: the event is sent again later.' },
      },
    });
  }
  // Registered as a component rather than passed in the document config, which drops it
  // (honojs/middleware#1437).
  app.openAPIRegistry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'sy_live_… / sy_test_… API key',
    description: 'An organisation API key, sent as `Authorization: Bearer <key>`. Keys are never accepted in the query string.',
  });
}

export function buildOpenApiDocument(app: OpenAPIHono<AppEnv>) {
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Switchyard API',
      version: API_VERSION,
      description: [
        'Contract-first realtime API on Cloudflare Workers: organisations register devices, open sessions and exchange messages over WebSockets.',
        '',
        'Errors are RFC 9457 `application/problem+json` documents with a stable `code` and the `request_id`. Every response carries `X-Request-Id` and a W3C `traceparent`.',
        '',
        versionsDescription(),
      ].join('\n'),
      'x-api-versions': API_VERSIONS_EXTENSION,
      license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
    },
    servers: [{ url: '/', description: 'The deployment serving this document' }],
    tags: [
      { name: 'System', description: 'Liveness and readiness probes.' },
      {
        name: 'API keys',
        description: 'Keys that authenticate an organisation: created, listed, rotated and revoked with the `keys:admin` scope.',
      },
      { name: 'Devices', description: 'What an organisation connects to sessions (`devices:read`, `devices:write`).' },
      {
        name: 'Sessions',
        description: 'Realtime sessions and the short-lived tokens participants connect with (`sessions:read`, `sessions:write`).',
      },
      {
        name: 'Webhook endpoints',
        description:
          'Where the organisation wants its events delivered, each with a signing secret shown once and rotated with a 24-hour overlap (`webhooks:admin`).',
      },
      {
        name: 'Events',
        description:
          'The changes a customer may follow, kept 30 days: the bodies of the webhooks (see `webhooks`), listed for a receiver that was down or prefers to pull (`events:read`, plus the scope that reads each type).',
      },
      {
        name: 'Organization',
        description:
          'The organisation the API key belongs to: its name, the API version a request without `Switchyard-Version` is rendered in (`organization:read`, `organization:admin`), and its erasure (`organization:admin`).',
      },
      { name: 'Audit log', description: 'Every change, with who made it and from where (`audit:read`).' },
      {
        name: 'Request signing',
        description:
          'Ed25519 public keys the organisation signs sensitive requests with (RFC 9421), and whether it requires those signatures (`organization:admin`).',
      },
      {
        name: 'Organization exports',
        description:
          "An archive of all the organisation's data, for access and portability requests (`organization:export`): docs/data-export.md.",
      },
    ],
    security: [{ ApiKey: [] }],
  });
  addCodeSamples(document);
  return document;
}
