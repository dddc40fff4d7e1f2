import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { z } from '@hono/zod-openapi';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import createClient from 'openapi-fetch';
import { describe, expect, it, vi } from 'vitest';
import committedSpec from '../../openapi/openapi.json';
import { createApp } from '../../src/app.ts';
import { ApiError } from '../../src/errors.ts';
import { defineRoute } from '../../src/routes/define-route.ts';
import { ERROR_CATALOG, type ErrorCode, PROBLEM_CONTENT_TYPE, problemSchemaFor } from '../../src/schemas/problem.ts';
import { problemResponse } from '../../src/schemas/responses.ts';
import { ResponseContractError, responseContractCheck, undeclaredKeys } from '../helpers/response-contract.ts';
import { api, BASE_URL } from '../helpers/worker.ts';

const CASES = [
  'valid',
  'wrong_type',
  'extra_key',
  'nested_extra_key',
  'undocumented_status',
  'undocumented_type',
  'missing_header',
  'wrong_problem_code',
] as const;
type Case = (typeof CASES)[number];

const ThingSchema = z
  .object({
    name: z.string().openapi({ description: 'A name.' }),
    inner: z.object({ count: z.int().openapi({ description: 'A count.' }) }).openapi({ description: 'A nested object.' }),
    labels: z.record(z.string(), z.string()).optional().openapi({ description: 'Any keys: a record declares them all.' }),
  })
  .openapi({ description: 'What the test route documents.' });

const thingRoute = defineRoute({
  method: 'get',
  path: '/test/contract',
  operationId: 'testContract',
  summary: 'Contract check (test only)',
  tags: ['Test'],
  request: {
    query: z.object({ case: z.enum(CASES).openapi({ description: 'Which response to send.' }) }).strict(),
  },
  responses: {
    200: {
      description: 'A thing.',
      headers: { 'X-Thing': { description: 'Always sent.', required: true, schema: { type: 'string' } } },
      content: { 'application/json': { schema: ThingSchema } },
    },
  },
});

const VALID = { name: 'a', inner: { count: 1 }, labels: { any: 'key' } };
const BODIES: Record<Case, { status: ContentfulStatusCode; contentType?: string; body: unknown; omitHeader?: boolean }> = {
  valid: { status: 200, body: VALID },
  wrong_type: { status: 200, body: { ...VALID, inner: { count: 'one' } } },
  extra_key: { status: 200, body: { ...VALID, secret: 'leaked' } },
  nested_extra_key: { status: 200, body: { ...VALID, inner: { count: 1, debug: true } } },
  undocumented_status: { status: 201, body: VALID },
  undocumented_type: { status: 200, contentType: 'text/plain', body: 'a thing' },
  missing_header: { status: 200, body: VALID, omitHeader: true },
  wrong_problem_code: {
    status: 400,
    contentType: PROBLEM_CONTENT_TYPE,
    body: {
      type: 'https://switchyard.test/problems/not-found',
      title: 'Not found',
      status: 400,
      detail: 'A 400 cannot carry a 404 code.',
      instance: '/test/contract',
      code: 'not_found',
      request_id: 'req_1',
    },
  },
};

const app = createApp();
app.openapi(thingRoute, (c) => {
  const chosen = BODIES[c.req.valid('query').case];
  const body = typeof chosen.body === 'string' ? chosen.body : JSON.stringify(chosen.body);
  const headers: Record<string, string> = { 'Content-Type': chosen.contentType ?? 'application/json' };
  if (!chosen.omitHeader) headers['X-Thing'] = 'yes';
  // Deliberately outside what the route's types allow: that is what the check must catch.
  return c.body(body, chosen.status, headers) as never;
});

// The shape openapi-typescript would generate for the test route.
interface TestPaths {
  '/test/contract': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query: { case: Case }; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: { 200: { headers: Record<string, unknown>; content: { 'application/json': z.infer<typeof ThingSchema> } } };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
}

const client = createClient<TestPaths>({
  baseUrl: BASE_URL,
  fetch: async (request) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(request, { ...env }, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  },
});
client.use(responseContractCheck(app));

const call = (which: Case) => client.GET('/test/contract', { params: { query: { case: which } } });

describe('the response contract check on the test client', () => {
  it('passes a response the route documents, record keys included', async () => {
    const { data, response } = await call('valid');
    expect(response.status).toBe(200);
    expect(data).toEqual(VALID);
  });

  it('fails a body that does not match the schema, naming the operation, status and issue', async () => {
    const failure = call('wrong_type');
    await expect(failure).rejects.toThrow(ResponseContractError);
    await expect(call('wrong_type')).rejects.toThrow(
      /testContract \(GET \/test\/contract\) answered 200[\s\S]*\/inner\/count: .*invalid_type/,
    );
  });

  it('fails an undeclared key at the top level and in a nested object', async () => {
    await expect(call('extra_key')).rejects.toThrow(/\/secret: not declared by the schema/);
    await expect(call('nested_extra_key')).rejects.toThrow(/\/inner\/debug: not declared by the schema/);
  });

  it('fails an undocumented status', async () => {
    await expect(call('undocumented_status')).rejects.toThrow(/answered 201[\s\S]*status 201 is not documented/);
  });

  it('fails an undocumented content type', async () => {
    await expect(call('undocumented_type')).rejects.toThrow(/Content-Type text\/plain is not documented/);
  });

  it('fails a response without a header documented as required', async () => {
    await expect(call('missing_header')).rejects.toThrow(/missing header X-Thing \(required\)/);
  });

  it('fails a problem whose code is not one of its status', async () => {
    await expect(call('wrong_problem_code')).rejects.toThrow(/answered 400[\s\S]*\/code: /);
  });

  it('is on the generated client every test uses', async () => {
    expect((await api.GET('/health')).data).toEqual({ status: 'ok' });
    // The Worker answering with an undeclared field: the call itself must fail.
    const leaky = new Response('{"status":"ok","build":"abc"}', {
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req_1', traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` },
    });
    const spy = vi.spyOn(exports.default, 'fetch').mockResolvedValueOnce(leaky);
    try {
      await expect(api.GET('/health')).rejects.toThrow(/getHealth \(GET \/health\) answered 200[\s\S]*\/build: not declared/);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('undeclaredKeys', () => {
  const Frame = z.discriminatedUnion('type', [
    z.object({ type: z.literal('a'), a: z.string() }),
    z.object({ type: z.literal('b'), b: z.array(z.object({ x: z.int() })) }),
  ]);

  it('follows the union option that accepts the value, arrays, optionals and nullables', () => {
    expect(undeclaredKeys(Frame, { type: 'b', b: [{ x: 1 }, { x: 2, y: 3 }] })).toEqual(['/b/1/y']);
    expect(undeclaredKeys(Frame, { type: 'a', a: 'x' })).toEqual([]);
    expect(undeclaredKeys(z.object({ o: z.object({ k: z.int() }).nullable().optional() }), { o: { k: 1, j: 2 } })).toEqual(['/o/j']);
  });

  it('accepts extra keys only where the schema declares a catchall', () => {
    expect(undeclaredKeys(z.looseObject({ k: z.int() }), { k: 1, j: 2 })).toEqual([]);
    expect(undeclaredKeys(z.object({ k: z.int() }), { k: 1, j: 2 })).toEqual(['/j']);
  });
});

describe('problem codes narrowed per status', () => {
  const renderApp = createApp();

  it('every code rendered by the one renderer matches the documented problem of its status', async () => {
    for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) {
      renderApp.get(`/test/render/${code}`, () => {
        throw new ApiError(code);
      });
    }
    for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) {
      const ctx = createExecutionContext();
      const response = await renderApp.fetch(new Request(`${BASE_URL}/test/render/${code}`), { ...env }, ctx);
      await waitOnExecutionContext(ctx);
      expect(response.status, code).toBe(ERROR_CATALOG[code].status);
      const body = await response.json();
      expect(problemSchemaFor(response.status).safeParse(body).success, code).toBe(true);
      expect(undeclaredKeys(problemSchemaFor(response.status), body), code).toEqual([]);
    }
  });

  it('documents each status with a Problem<status> whose code enum is exactly the catalogue codes of that status', () => {
    const schemas = committedSpec.components.schemas as Record<string, { properties?: Record<string, { enum?: unknown[] }> }>;
    const documented = Object.keys(schemas).filter((name) => /^Problem\d{3}$/.test(name));
    expect(documented.length).toBeGreaterThan(5);
    for (const name of documented) {
      const status = Number(name.slice('Problem'.length));
      const codes = Object.entries(ERROR_CATALOG)
        .filter(([, entry]) => entry.status === status)
        .map(([code]) => code);
      expect(schemas[name]?.properties?.code?.enum, name).toEqual(codes);
      expect(schemas[name]?.properties?.status?.enum, name).toEqual([status]);
    }
    const paths = committedSpec.paths as Record<
      string,
      Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>
    >;
    for (const operation of Object.values(paths).flatMap((item) => Object.values(item))) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        expect(response.content?.[PROBLEM_CONTENT_TYPE]).toEqual({ schema: { $ref: `#/components/schemas/Problem${status}` } });
      }
    }
  });

  it('lets a generated-client user switch on code, typed by status', async () => {
    const { error } = await api.GET('/v1/devices/{id}', { params: { path: { id: 'dev_8Kq2Wn5Rt7Yb1Xc4Vz9Lm3' } } });
    expect(error?.status).toBe(401);
    if (error?.status !== 401) return;
    // A 401 problem's code is one of the catalogue's 401 codes, so this switch is exhaustive.
    switch (error.code) {
      case 'unauthorized':
      case 'invalid_token':
      case 'signature_missing':
      case 'signature_malformed':
      case 'signature_component_missing':
      case 'signature_expired':
      case 'signing_key_unknown':
      case 'signature_invalid':
      case 'content_digest_mismatch':
      case 'signature_replayed':
        expect(error.code).toBe('unauthorized');
        break;
      default: {
        const unreachable: never = error;
        throw new Error(`unexpected ${JSON.stringify(unreachable)}`);
      }
    }
  });

  it('refuses, at definition time, a route documenting a status no code has or an error that is not a problem', () => {
    const base = { method: 'get' as const, path: '/test/drift', operationId: 'testDrift', summary: 'Drift', tags: ['Test'] };
    expect(() => defineRoute({ ...base, responses: { 200: { description: 'ok' }, 418: problemResponse('A teapot.') } })).toThrow(
      /\/test\/drift: documents 418, but no code of the error catalogue/,
    );
    expect(() => defineRoute({ ...base, responses: { 200: { description: 'ok' }, 404: { description: 'Plain.' } } })).toThrow(
      /the 404 response must be an application\/problem\+json problem/,
    );
  });
});
