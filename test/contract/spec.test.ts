import { describe, expect, it } from 'vitest';
import committedSpec from '../../openapi/openapi.json';
import { CLIENT_PACKAGE } from '../../src/code-samples.ts';
import { MAX_JSON_DEPTH } from '../../src/lib/json-inspect.ts';
import { SCALAR_BUNDLE_PATH } from '../../src/routes/docs/docs.ts';
import { callWorker } from '../helpers/worker.ts';

// Cast to through unknown: the JSON import types each path exactly, and one whose only parameters are $refs (DELETE /v1/organization) does not overlap this.
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

const COMPOSITIONS = ['anyOf', 'oneOf', 'allOf'] as const;

/** The most levels of objects and arrays a value valid against `schema` can nest (Infinity when unbounded). */
function maxNesting(schema: unknown, visiting = new Set<string>()): number {
  if (typeof schema !== 'object' || schema === null) return 0;
  const node = schema as Record<string, unknown>;
  if (typeof node.$ref === 'string') {
    if (visiting.has(node.$ref)) return Number.POSITIVE_INFINITY;
    return maxNesting(resolvePointer(node.$ref), new Set([...visiting, node.$ref]));
  }
  const alternatives = COMPOSITIONS.flatMap((keyword) => (node[keyword] as unknown[] | undefined) ?? []);
  const container = node.type === 'array' || node.type === 'object';
  const children = [
    node.items,
    node.additionalProperties,
    ...Object.values((node.properties as Record<string, unknown> | undefined) ?? {}),
  ];
  const below = Math.max(0, ...children.map((child) => maxNesting(child, visiting)));
  return Math.max(container ? 1 + below : 0, ...alternatives.map((alternative) => maxNesting(alternative, visiting)));
}

/** What a local `$ref` (`#/components/schemas/…`, or a pointer into a component's `$defs`) points at. */
function resolvePointer(ref: string): unknown {
  expect(ref.startsWith('#/')).toBe(true);
  const tokens = ref
    .slice(2)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
  const target = tokens.reduce<unknown>((node, token) => (node as Record<string, unknown> | undefined)?.[token], committedSpec);
  expect(target, ref).toBeTypeOf('object');
  return target;
}

/**
 * Every schema reachable from `schema` through its subschemas (components followed once each) that
 * takes keys of the caller's choosing: an object with open `additionalProperties`, or a schema that
 * says nothing of its type (`{}` accepts any object too).
 */
function openObjects(schema: unknown, seen = new Set<string>()): Record<string, unknown>[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const node = schema as Record<string, unknown>;
  if (typeof node.$ref === 'string') {
    if (seen.has(node.$ref)) return [];
    seen.add(node.$ref);
    return openObjects(resolvePointer(node.$ref), seen);
  }
  const composed = COMPOSITIONS.some((keyword) => Array.isArray(node[keyword]));
  const untyped = node.type === undefined && !composed && node.const === undefined && node.enum === undefined;
  const openObject = node.type === 'object' && node.additionalProperties !== undefined && node.additionalProperties !== false;
  const children = [
    ...Object.values((node.properties as Record<string, unknown> | undefined) ?? {}),
    node.items,
    node.additionalProperties,
    ...COMPOSITIONS.flatMap((keyword) => (node[keyword] as unknown[] | undefined) ?? []),
  ];
  return [...(untyped || openObject ? [node] : []), ...children.flatMap((child) => openObjects(child, seen))];
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
    const paths = committedSpec.paths as unknown as Record<string, Record<string, Operation>>;
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
  // would have schemathesis (and any generated client) send schema-valid bodies the API rejects, as a message
  // payload typed `{}` once did.
  it('refuses the reserved key __proto__ in every request-body object whose keys the caller chooses', () => {
    const paths = committedSpec.paths as unknown as Record<string, Record<string, Operation>>;
    const bodies = Object.values(paths)
      .flatMap((item) => Object.values(item))
      .flatMap((operation) => Object.values(operation.requestBody?.content ?? {}).map((media) => media.schema));
    const open = bodies.flatMap((schema) => openObjects(schema));
    expect(open.length).toBeGreaterThan(0);
    for (const object of open) expect(object.propertyNames).toMatchObject({ not: { const: '__proto__' } });
  });

  // A body nests at most MAX_JSON_DEPTH levels (json_too_deep); a free-form field inside it gets one level fewer.
  it('states the depth limit on free-form JSON that the runtime enforces, no deeper and no shallower', () => {
    const jsonValue = { $ref: '#/components/schemas/JsonValue' };
    expect(maxNesting(jsonValue)).toBe(MAX_JSON_DEPTH - 1);
    expect(maxNesting(committedSpec.components.schemas.SessionPublish)).toBe(MAX_JSON_DEPTH);
  });

  // The reference pre-fills every example into "Test Request": an example cursor is a 400, an example filter
  // narrows the first click to an empty page, an example If-None-Match a 304. The WebSocket route is left out:
  // a browser's "Test Request" cannot open it, and its token example shows where the token goes.
  it('pre-fills no optional parameter of an HTTP operation, except with its default', () => {
    const operations = Object.entries(committedSpec.paths as unknown as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
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
    const operations = Object.values(committedSpec.paths as unknown as Record<string, Record<string, Operation>>).flatMap((item) =>
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
