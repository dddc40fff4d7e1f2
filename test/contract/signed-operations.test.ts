/**
 * The sensitive operations (issue 17: key create / rotate / revoke, webhook endpoint changes, export
 * and erasure, and what governs signing itself) are exactly the ones the spec marks as needing a
 * signature once the organisation requires signed requests. A route that forgets `signed: true`, or
 * gains it by mistake, fails here.
 */
import { describe, expect, it } from 'vitest';
import committedSpec from '../../openapi/openapi.json';

const SENSITIVE = [
  'createApiKey',
  'rotateApiKey',
  'revokeApiKey',
  'createWebhookEndpoint',
  'updateWebhookEndpoint',
  'deleteWebhookEndpoint',
  'rotateWebhookEndpointSecret',
  'createSigningKey',
  'revokeSigningKey',
  'updateRequestSigning',
  'updateOrganization',
  'createOrganizationExport',
  'eraseOrganization',
];

type Operation = { operationId?: string; 'x-signature-required'?: string; responses: Record<string, unknown> };

describe('signed operations', () => {
  const operations = Object.values(committedSpec.paths as Record<string, Record<string, Operation>>).flatMap((path) => Object.values(path));

  it('are exactly the sensitive ones', () => {
    const marked = operations.filter((operation) => operation['x-signature-required'] !== undefined);
    expect(marked.map((operation) => operation.operationId).sort()).toEqual([...SENSITIVE].sort());
    for (const operation of marked) expect(operation['x-signature-required']).toBe('when-organization-requires');
  });

  it('each document the 401 a missing signature gets', () => {
    for (const operation of operations.filter((each) => each['x-signature-required'] !== undefined)) {
      expect(JSON.stringify(operation.responses['401']), operation.operationId).toContain('signature_missing');
    }
  });
});
