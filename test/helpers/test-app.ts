/**
 * The real app plus test-only routes, for error paths that the product's current routes cannot
 * reach yet (a JSON body, a handler that throws). The routes are declared with the same
 * defineRoute helper as product routes, so they get the same middleware and validation.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../src/app.ts';
import { defineRoute } from '../../src/routes/define-route.ts';
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

const app = createApp();
app.openapi(echoRoute, (c) => c.json(c.req.valid('json'), 200));
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
