import { describe, expect, it } from 'vitest';
import committedSpec from '../../openapi/openapi.json';
import { CLIENT_PACKAGE } from '../../src/code-samples.ts';
import { SCALAR_BUNDLE_PATH } from '../../src/routes/docs/docs.ts';
import { callWorker } from '../helpers/worker.ts';

type Operation = {
  operationId?: string;
  parameters?: Array<{
    name: string;
    in: string;
    required?: boolean;
    example?: unknown;
    schema?: { example?: unknown; default?: unknown };
  }>;
  'x-websocket'?: unknown;
  'x-codeSamples'?: Array<{ lang: string; source: string }>;
  summary?: string;
  tags?: string[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, unknown>;
};

/** Every object schema reachable from `schema` (components followed once each) that takes keys of the caller's choosing. */
function openObjects(schema: unknown, seen = new Set<string>()): Record<string, unknown>[] {
  if (Array.isArray(schema)) return schema.flatMap((item) => openObjects(item, seen));
  if (typeof schema !== 'object' || schema === null) return [];
  const node = schema as Record<string, unknown>;
  if (typeof node.$ref === 'string') {
    if (seen.has(node.$ref)) return [];
    seen.add(node.$ref);
    const name = node.$ref.replace('#/components/schemas/', '');
    return openObjects((committedSpec.components.schemas as Record<string, unknown>)[name], seen);
  }
  const own = node.type === 'object' && node.additionalProperties !== undefined && node.additionalProperties !== false ? [node] : [];
  return [...own, ...Object.values(node).flatMap((child) => openObjects(child, seen))];
}

describe('GET /openapi.json', () => {
  it('serves exactly the committed openapi/openapi.json (npm run spec keeps them equal)', async () => {
    const response = await callWorker('/openapi.json');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(committedSpec);
  });

  it('is OpenAPI 3.1 with the API key scheme registered as a component', () => {
    expect(committedSpec.openapi).toBe('3.1.0');
    expect(committedSpec.components.securitySchemes.ApiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('documents 4xx and 5xx problem responses, an id, a summary and a tag for every operation', () => {
    const paths = committedSpec.paths as Record<string, Record<string, Operation>>;
    const operations = Object.values(paths).flatMap((item) => Object.values(item));
    expect(operations.length).toBeGreaterThan(0);
    for (const operation of operations) {
      expect(operation.operationId).toBeTruthy();
      expect(operation.summary).toBeTruthy();
      expect(operation.tags?.length).toBeGreaterThan(0);
      const statuses = Object.keys(operation.responses);
      expect(statuses.some((status) => status.startsWith('4'))).toBe(true);
      expect(statuses.some((status) => status.startsWith('5'))).toBe(true);
    }
  });

  // The runtime refuses `__proto__` anywhere in a body before validation (reserved_key); a contract that allowed it
  // would have schemathesis (and any generated client) send schema-valid bodies the API rejects.
  it('refuses the reserved key __proto__ in every request-body object whose keys the caller chooses', () => {
    const paths = committedSpec.paths as Record<string, Record<string, Operation>>;
    const bodies = Object.values(paths)
      .flatMap((item) => Object.values(item))
      .flatMap((operation) => Object.values(operation.requestBody?.content ?? {}).map((media) => media.schema));
    const open = bodies.flatMap((schema) => openObjects(schema));
    expect(open.length).toBeGreaterThan(0);
    for (const object of open) expect(object.propertyNames).toMatchObject({ not: { const: '__proto__' } });
  });

  // The reference pre-fills every example into "Test Request": an example cursor is a 400, an example filter
  // narrows the first click to an empty page, an example If-None-Match a 304. The WebSocket route is left out:
  // a browser's "Test Request" cannot open it, and its token example shows where the token goes.
  it('pre-fills no optional parameter of an HTTP operation, except with its default', () => {
    const operations = Object.entries(committedSpec.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, operation })),
    );
    const prefilled = operations
      .filter(({ operation }) => operation['x-websocket'] === undefined)
      .flatMap(({ name, operation }) =>
        (operation.parameters ?? [])
          .filter((parameter) => !parameter.required && parameter.in !== 'path')
          .filter((parameter) => {
            const example = parameter.example ?? parameter.schema?.example;
            return example !== undefined && example !== parameter.schema?.default;
          })
          .map((parameter) => `${name} ${parameter.in} ${parameter.name}`),
      );
    expect(operations.some(({ operation }) => operation.parameters?.some((parameter) => parameter.name === 'status'))).toBe(true);
    expect(prefilled).toEqual([]);
  });

  it('shows a TypeScript sample with the client package on every operation', () => {
    const operations = Object.values(committedSpec.paths as Record<string, Record<string, Operation>>).flatMap((item) =>
      Object.values(item),
    );
    for (const operation of operations) {
      expect(operation['x-codeSamples'], operation.operationId).toEqual([
        expect.objectContaining({ lang: 'typescript', source: expect.stringContaining(`from '${CLIENT_PACKAGE}'`) }),
      ]);
    }
  });
});

describe('GET /docs', () => {
  it('serves the reference under its own nonce-based CSP, loading only the self-hosted bundle', async () => {
    const response = await callWorker('/docs');
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/^text\/html/);
    const csp = response.headers.get('Content-Security-Policy') ?? '';
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:\/\//);
    const html = await response.text();
    expect(html).toContain(`<script src="${SCALAR_BUNDLE_PATH}" nonce="${nonce}"></script>`);
    for (const [tag] of html.matchAll(/<script\b[^>]*>/g)) expect(tag).toContain(`nonce="${nonce}"`);
    // No CDN and no other origin anywhere in the page.
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[a-z]/i);
  });

  it('uses a fresh nonce per response', async () => {
    const first = (await callWorker('/docs')).headers.get('Content-Security-Policy');
    const second = (await callWorker('/docs')).headers.get('Content-Security-Policy');
    expect(first).not.toBe(second);
  });

  it('serves the pinned Scalar bundle from the Worker assets, with the API security headers', async () => {
    const response = await callWorker(SCALAR_BUNDLE_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toMatch(/javascript/);
    expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(response.headers.get('Cache-Control')).toBe('public, max-age=3600');
    expect((await response.text()).length).toBeGreaterThan(1_000_000);
  });
});
