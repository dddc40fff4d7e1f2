/**
 * Every authenticated operation in the committed spec, and a valid request for each: the shared
 * suites (route-security, authorization) call them all, and fail for an operation without a fixture.
 */
import spec from '../../openapi/openapi.json';
import { EVENT_EXAMPLE_ID } from '../../src/schemas/events.ts';
import type { Scope } from '../../src/schemas/scopes.ts';
import { SIGNING_KEY_CREATE_EXAMPLE } from '../../src/schemas/signing-keys.ts';
import type { Tenant } from './tenants.ts';

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

export type Target = 'apiKey' | 'device' | 'session' | 'webhookEndpoint' | 'event' | 'signingKey' | 'organizationExport';

/** A public key the fixtures register: the reference's example. */
export const FIXTURE_PUBLIC_KEY = SIGNING_KEY_CREATE_EXAMPLE.public_key;

interface OperationFixture {
  /** A body the route accepts, whatever it then finds (the suites that only reach authentication and authorisation send it). */
  body?: unknown;
  /** Which kind of object `{id}` names. */
  target?: Target;
  /** A body that succeeds on the tenant's object `target`, when `body` alone cannot (it names another object that must exist). */
  succeedingBody?: (tenant: Tenant, target: string) => Promise<unknown>;
}

/** A test event sent to the endpoint: an event any endpoint may be sent again, whatever it subscribes to. */
async function testEventOf(tenant: Tenant, endpointId: string): Promise<{ event_id: string }> {
  const { data } = await tenant.api.POST('/v1/webhook-endpoints/{id}/test', { params: { path: { id: endpointId } } });
  if (!data) throw new Error(`no test event for ${endpointId}`);
  return { event_id: data.event_id };
}

/** A valid request for each operation. */
export const OPERATION_FIXTURES: Record<string, OperationFixture> = {
  createApiKey: { body: { name: 'suite', scopes: ['devices:read'] } },
  listApiKeys: {},
  getApiKey: { target: 'apiKey' },
  revokeApiKey: { target: 'apiKey' },
  rotateApiKey: { target: 'apiKey', body: { grace_period_seconds: 60 } },
  getOrganization: {},
  updateOrganization: { body: { name: 'suite' } },
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
  resendWebhookEvent: { target: 'webhookEndpoint', body: { event_id: EVENT_EXAMPLE_ID }, succeedingBody: testEventOf },
  recoverWebhookDeliveries: { target: 'webhookEndpoint', body: { since: '2026-01-01T00:00:00Z' } },
  testWebhookEndpoint: { target: 'webhookEndpoint' },
  createSigningKey: { body: { name: 'suite', public_key: FIXTURE_PUBLIC_KEY } },
  listSigningKeys: {},
  getSigningKey: { target: 'signingKey' },
  revokeSigningKey: { target: 'signingKey' },
  getRequestSigning: {},
  updateRequestSigning: { body: { required: false } },
  // The body names another organisation: it reaches the confirmation check and changes nothing.
  eraseOrganization: {
    body: { confirm: 'erase org_4Hc9XbQ2LmT7rVz1NpKs3w' },
    succeedingBody: (tenant) => Promise.resolve({ confirm: `erase ${tenant.orgId}` }),
  },
  createOrganizationExport: {},
  listOrganizationExports: {},
  getOrganizationExport: { target: 'organizationExport' },
  getOrganizationExportArchive: { target: 'organizationExport' },
};

/** The body that makes the operation succeed on the tenant's `target`. */
export function succeedingBody(tenant: Tenant, operationId: string, target: string): Promise<unknown> {
  const fixture = OPERATION_FIXTURES[operationId] ?? {};
  return fixture.succeedingBody ? fixture.succeedingBody(tenant, target) : Promise.resolve(fixture.body);
}
