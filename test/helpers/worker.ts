/**
 * Calling the Worker from tests. `api` is the generated typed client wired to the Worker's own
 * fetch (the `main` module, in this isolate, with the real D1), with the response contract check
 * (response-contract.ts) on every call. `callWorker` sends a raw request,
 * optionally with an env that differs from the configured one (production settings, another D1).
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { createSwitchyardClient, type SwitchyardClientOptions } from '../../generated/client.ts';
import { createApp } from '../../src/app.ts';
import worker from '../../src/index.ts';
import { responseContractCheck } from './response-contract.ts';

export const BASE_URL = 'https://switchyard.test';

// Built once from an app of its own: the route definitions are module singletons, so its registry
// holds the very routes the Worker serves.
const responseContract = responseContractCheck(createApp());

/** The generated client against the Worker; every response it gets is checked against its route's documentation. */
export function apiClient(options: Pick<SwitchyardClientOptions, 'apiKey' | 'headers' | 'signing' | 'apiVersion'> = {}) {
  const client = createSwitchyardClient({
    baseUrl: BASE_URL,
    fetch: (request) => exports.default.fetch(request),
    // The server's tests see each request exactly as the test sent it: no key it did not set, no
    // retry of a 429 or 503 it provoked (test/client/api-client.test.ts covers the client's own).
    retry: false,
    idempotencyKeys: false,
    ...options,
  });
  client.use(responseContract);
  return client;
}

export const api = apiClient();

/** A valid production configuration: every start-up check passes. */
export const PRODUCTION_ENV = {
  ENVIRONMENT: 'production',
  CORS_ORIGINS: 'https://app.switchyard.dev',
  SESSION_JWT_SECRET: 'production-test-secret-that-is-long-enough-0123456789',
  STORAGE_ENCRYPTION_SECRET: 'production-test-storage-secret-long-enough-0123456789',
} as const;

export async function callWorker(input: string | Request, init: RequestInit = {}, overrides: Partial<Record<string, unknown>> = {}) {
  const request = typeof input === 'string' ? new Request(new URL(input, BASE_URL), init) : input;
  const ctx = createExecutionContext();
  // A fresh env object per call: configuration is cached per env object, like per isolate in production.
  // Test requests have no `cf` object (no Cloudflare edge in front of them), hence the cast.
  const response = await worker.fetch(request as Parameters<typeof worker.fetch>[0], { ...env, ...overrides } as typeof env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}
