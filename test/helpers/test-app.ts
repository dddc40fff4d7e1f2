/**
 * The real app plus test-only routes, for paths that the product's routes cannot reach on demand
 * (a handler that throws, a conditional change that loses its race). The routes are declared with
 * the same defineRoute helper as product routes, so they get the same middleware and validation.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../src/app.ts';
import { ApiError } from '../../src/errors.ts';
import { commit } from '../../src/routes/commit.ts';
import { defineRoute, openapiRoute } from '../../src/routes/define-route.ts';
import { BASE_URL } from './worker.ts';

export const EchoBodySchema = z
  .object({
    name: z.string().min(1).max(20),
    count: z.int().min(0).max(10),
    nested: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const echoRoute = defineRoute({
  method: 'post',
  path: '/test/echo',
  operationId: 'testEcho',
  summary: 'Echo (test only)',
  tags: ['Test'],
  request: {
    body: { required: true, content: { 'application/json': { schema: EchoBodySchema } } },
  },
  responses: { 200: { description: 'The body', content: { 'application/json': { schema: EchoBodySchema } } } },
});

const TouchBodySchema = z.object({ device_id: z.string().openapi({ description: 'The device to touch.' }) }).strict();

/**
 * A conditional change under an `atomic` key whose condition the caller controls: it touches a
 * device that may not exist, so the "change not made" path of commit() can be reached at will.
 */
const touchRoute = defineRoute({
  method: 'post',
  path: '/test/touch',
  operationId: 'testTouch',
  summary: 'Touch a device (test only)',
  tags: ['Test'],
  scope: 'devices:write',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: { body: { required: true, content: { 'application/json': { schema: TouchBodySchema } } } },
  responses: { 200: { description: 'Touched', content: { 'application/json': { schema: TouchBodySchema } } } },
});

const app = createApp();
app.openapi(echoRoute, (c) => c.json(c.req.valid('json'), 200));
openapiRoute(app, touchRoute, async (c) => {
  const { device_id: deviceId } = c.req.valid('json');
  const { db } = c.get('config');
  const touched = await commit(
    c,
    {
      statements: [db.prepare('UPDATE devices SET version = version WHERE org_id = ?1 AND id = ?2').bind(c.get('auth').orgId, deviceId)],
      conditional: true,
    },
    { status: 200, json: { device_id: deviceId } },
  );
  if (touched) return touched;
  throw new ApiError('not_found', { detail: `No device ${deviceId}.` });
});
app.get('/test/boom', () => {
  // Internals a real failure could carry; none may reach the client, secrets none may reach the log.
  throw new Error('D1_ERROR: SELECT * FROM api_keys WHERE hash = ? failed for Bearer sy_live_abc123SECRET');
});

export async function callTestApp(path: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(new URL(path, BASE_URL), init), { ...env }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export function postJson(path: string, body: string, headers: Record<string, string> = {}) {
  return callTestApp(path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}
