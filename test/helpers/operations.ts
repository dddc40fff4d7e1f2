/**
 * Every authenticated operation in the committed spec, and a valid request for each: the shared
 * suites (route-security, authorization) call them all, and fail for an operation without a fixture.
 */
import spec from '../../openapi/openapi.json';
import type { Scope } from '../../src/schemas/scopes.ts';

export interface Operation {
  operationId: string;
  method: string;
  path: string;
  scope: Scope;
}

export const operations: Operation[] = Object.entries(spec.paths as Record<string, Record<string, Record<string, unknown>>>).flatMap(
  ([path, item]) =>
    Object.entries(item)
      .filter(([, operation]) => Array.isArray(operation.security) && operation.security.length > 0)
      .map(([method, operation]) => ({
        operationId: String(operation.operationId),
        method: method.toUpperCase(),
        path,
        scope: operation['x-required-scope'] as Scope,
      })),
);

export type Target = 'apiKey' | 'device' | 'session' | 'webhookEndpoint' | 'event';

/** A valid request body for each operation that takes one, and which kind of object its `{id}` names. */
export const OPERATION_FIXTURES: Record<string, { body?: unknown; target?: Target }> = {
  createApiKey: { body: { name: 'suite', scopes: ['devices:read'] } },
  listApiKeys: {},
  getApiKey: { target: 'apiKey' },
  revokeApiKey: { target: 'apiKey' },
  rotateApiKey: { target: 'apiKey', body: { grace_period_seconds: 60 } },
  listAuditEvents: {},
  listEvents: {},
  getEvent: { target: 'event' },
  createDevice: { body: { name: 'suite', kind: 'iot' } },
  listDevices: {},
  getDevice: { target: 'device' },
  updateDevice: { target: 'device', body: { name: 'renamed' } },
  deleteDevice: { target: 'device' },
  createSession: { body: {} },
  listSessions: {},
  getSession: { target: 'session' },
  endSession: { target: 'session' },
  createConnectToken: { target: 'session', body: { participant: 'client:suite' } },
  publishSessionMessage: { target: 'session', body: { payload: { text: 'suite' } } },
  listSessionParticipants: { target: 'session' },
  listSessionMessages: { target: 'session' },
  createWebhookEndpoint: { body: { url: 'https://hooks.example.com/suite' } },
  listWebhookEndpoints: {},
  getWebhookEndpoint: { target: 'webhookEndpoint' },
  listWebhookAttempts: { target: 'webhookEndpoint' },
  updateWebhookEndpoint: { target: 'webhookEndpoint', body: { description: 'renamed' } },
  deleteWebhookEndpoint: { target: 'webhookEndpoint' },
  rotateWebhookEndpointSecret: { target: 'webhookEndpoint' },
};
