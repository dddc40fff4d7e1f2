/**
 * @module
 * Every operation, registered in one place, grouped by resource.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context.ts';
import { authorizeCreateApiKey, createApiKey, createApiKeyRoute } from './api-keys/create-api-key.ts';
import { getApiKey, getApiKeyRoute } from './api-keys/get-api-key.ts';
import { listApiKeys, listApiKeysRoute } from './api-keys/list-api-keys.ts';
import { authorizeRevokeApiKey, revokeApiKey, revokeApiKeyRoute } from './api-keys/revoke-api-key.ts';
import { authorizeRotateApiKey, rotateApiKey, rotateApiKeyRoute } from './api-keys/rotate-api-key.ts';
import { listAuditEvents, listAuditEventsRoute } from './audit-events/list-audit-events.ts';
import { openapiRoute } from './define-route.ts';
import { createDevice, createDeviceRoute } from './devices/create-device.ts';
import { deleteDevice, deleteDeviceRoute } from './devices/delete-device.ts';
import { getDevice, getDeviceRoute } from './devices/get-device.ts';
import { listDevices, listDevicesRoute } from './devices/list-devices.ts';
import { updateDevice, updateDeviceRoute } from './devices/update-device.ts';
import { registerDocs } from './docs/docs.ts';
import { getEvent, getEventRoute } from './events/get-event.ts';
import { listEvents, listEventsRoute } from './events/list-events.ts';
import { eraseOrganization, eraseOrganizationRoute } from './organization/erase-organization.ts';
import { getOrganization, getOrganizationRoute } from './organization/get-organization.ts';
import { updateOrganization, updateOrganizationRoute } from './organization/update-organization.ts';
import { createOrganizationExport, createOrganizationExportRoute } from './organization-exports/create-organization-export.ts';
import { getOrganizationExport, getOrganizationExportRoute } from './organization-exports/get-organization-export.ts';
import { getOrganizationExportArchive, getOrganizationExportArchiveRoute } from './organization-exports/get-organization-export-archive.ts';
import { listOrganizationExports, listOrganizationExportsRoute } from './organization-exports/list-organization-exports.ts';
import { registerProblemPages } from './problems/problem-pages.ts';
import { getRequestSigning, getRequestSigningRoute } from './request-signing/get-request-signing.ts';
import {
  authorizeUpdateRequestSigning,
  updateRequestSigning,
  updateRequestSigningRoute,
} from './request-signing/update-request-signing.ts';
import { connectSession, connectSessionRoute } from './sessions/connect-session.ts';
import { authorizeConnectToken, createConnectToken, createConnectTokenRoute } from './sessions/create-connect-token.ts';
import { createSession, createSessionRoute } from './sessions/create-session.ts';
import { endSession, endSessionRoute } from './sessions/end-session.ts';
import { getSession, getSessionRoute } from './sessions/get-session.ts';
import { listParticipants, listParticipantsRoute } from './sessions/list-participants.ts';
import { listSessionMessages, listSessionMessagesRoute } from './sessions/list-session-messages.ts';
import { listSessions, listSessionsRoute } from './sessions/list-sessions.ts';
import { publishMessage, publishMessageRoute } from './sessions/publish-message.ts';
import { createSigningKey, createSigningKeyRoute } from './signing-keys/create-signing-key.ts';
import { getSigningKey, getSigningKeyRoute } from './signing-keys/get-signing-key.ts';
import { listSigningKeys, listSigningKeysRoute } from './signing-keys/list-signing-keys.ts';
import { revokeSigningKey, revokeSigningKeyRoute } from './signing-keys/revoke-signing-key.ts';
import { getHealth, getHealthRoute } from './system/get-health.ts';
import { getReady, getReadyRoute } from './system/get-ready.ts';
import {
  authorizeCreateWebhookEndpoint,
  createWebhookEndpoint,
  createWebhookEndpointRoute,
} from './webhook-endpoints/create-webhook-endpoint.ts';
import {
  authorizeDeleteWebhookEndpoint,
  deleteWebhookEndpoint,
  deleteWebhookEndpointRoute,
} from './webhook-endpoints/delete-webhook-endpoint.ts';
import { getWebhookEndpoint, getWebhookEndpointRoute } from './webhook-endpoints/get-webhook-endpoint.ts';
import { listWebhookAttempts, listWebhookAttemptsRoute } from './webhook-endpoints/list-webhook-attempts.ts';
import { listWebhookEndpoints, listWebhookEndpointsRoute } from './webhook-endpoints/list-webhook-endpoints.ts';
import {
  authorizeRecoverWebhookDeliveries,
  recoverWebhookDeliveries,
  recoverWebhookDeliveriesRoute,
} from './webhook-endpoints/recover-webhook-deliveries.ts';
import { authorizeResendWebhookEvent, resendWebhookEvent, resendWebhookEventRoute } from './webhook-endpoints/resend-webhook-event.ts';
import {
  authorizeRotateWebhookEndpointSecret,
  rotateWebhookEndpointSecret,
  rotateWebhookEndpointSecretRoute,
} from './webhook-endpoints/rotate-webhook-endpoint-secret.ts';
import { testWebhookEndpoint, testWebhookEndpointRoute } from './webhook-endpoints/test-webhook-endpoint.ts';
import {
  authorizeUpdateWebhookEndpoint,
  updateWebhookEndpoint,
  updateWebhookEndpointRoute,
} from './webhook-endpoints/update-webhook-endpoint.ts';

export function registerRoutes(app: OpenAPIHono<AppEnv>): void {
  openapiRoute(app, getHealthRoute, getHealth);
  openapiRoute(app, getReadyRoute, getReady);

  openapiRoute(app, createApiKeyRoute, createApiKey, authorizeCreateApiKey);
  openapiRoute(app, listApiKeysRoute, listApiKeys);
  openapiRoute(app, getApiKeyRoute, getApiKey);
  openapiRoute(app, revokeApiKeyRoute, revokeApiKey, authorizeRevokeApiKey);
  openapiRoute(app, rotateApiKeyRoute, rotateApiKey, authorizeRotateApiKey);

  openapiRoute(app, getOrganizationRoute, getOrganization);
  openapiRoute(app, updateOrganizationRoute, updateOrganization);

  openapiRoute(app, listAuditEventsRoute, listAuditEvents);
  openapiRoute(app, listEventsRoute, listEvents);
  openapiRoute(app, getEventRoute, getEvent);

  openapiRoute(app, createOrganizationExportRoute, createOrganizationExport);
  openapiRoute(app, listOrganizationExportsRoute, listOrganizationExports);
  openapiRoute(app, getOrganizationExportRoute, getOrganizationExport);
  openapiRoute(app, getOrganizationExportArchiveRoute, getOrganizationExportArchive);

  openapiRoute(app, createDeviceRoute, createDevice);
  openapiRoute(app, listDevicesRoute, listDevices);
  openapiRoute(app, getDeviceRoute, getDevice);
  openapiRoute(app, updateDeviceRoute, updateDevice);
  openapiRoute(app, deleteDeviceRoute, deleteDevice);

  openapiRoute(app, createSessionRoute, createSession);
  openapiRoute(app, listSessionsRoute, listSessions);
  openapiRoute(app, getSessionRoute, getSession);
  openapiRoute(app, endSessionRoute, endSession);
  openapiRoute(app, createConnectTokenRoute, createConnectToken, authorizeConnectToken);
  openapiRoute(app, connectSessionRoute, connectSession);
  openapiRoute(app, publishMessageRoute, publishMessage);
  openapiRoute(app, listSessionMessagesRoute, listSessionMessages);
  openapiRoute(app, listParticipantsRoute, listParticipants);

  openapiRoute(app, createWebhookEndpointRoute, createWebhookEndpoint, authorizeCreateWebhookEndpoint);
  openapiRoute(app, listWebhookEndpointsRoute, listWebhookEndpoints);
  openapiRoute(app, getWebhookEndpointRoute, getWebhookEndpoint);
  openapiRoute(app, listWebhookAttemptsRoute, listWebhookAttempts);
  openapiRoute(app, updateWebhookEndpointRoute, updateWebhookEndpoint, authorizeUpdateWebhookEndpoint);
  openapiRoute(app, deleteWebhookEndpointRoute, deleteWebhookEndpoint, authorizeDeleteWebhookEndpoint);
  openapiRoute(app, rotateWebhookEndpointSecretRoute, rotateWebhookEndpointSecret, authorizeRotateWebhookEndpointSecret);
  openapiRoute(app, resendWebhookEventRoute, resendWebhookEvent, authorizeResendWebhookEvent);
  openapiRoute(app, recoverWebhookDeliveriesRoute, recoverWebhookDeliveries, authorizeRecoverWebhookDeliveries);
  openapiRoute(app, testWebhookEndpointRoute, testWebhookEndpoint);

  openapiRoute(app, createSigningKeyRoute, createSigningKey);
  openapiRoute(app, listSigningKeysRoute, listSigningKeys);
  openapiRoute(app, getSigningKeyRoute, getSigningKey);
  openapiRoute(app, revokeSigningKeyRoute, revokeSigningKey);
  openapiRoute(app, getRequestSigningRoute, getRequestSigning);
  openapiRoute(app, updateRequestSigningRoute, updateRequestSigning, authorizeUpdateRequestSigning);
  openapiRoute(app, eraseOrganizationRoute, eraseOrganization);

  registerDocs(app);
  registerProblemPages(app);
}
