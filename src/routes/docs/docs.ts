/**
 * @module
 * The interactive reference at `/docs` and the spec at `/openapi.json`. Not part of the spec
 * themselves. The Scalar bundle is served from the Worker's own static assets, pinned by the
 * package lock, so the page works with no internet and under a CSP that allows nothing else.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { AppEnv } from '../../context.ts';
import { ApiError } from '../../errors.ts';
import { buildOpenApiDocument } from '../../openapi.ts';

/** Where scripts/copy-docs-assets.ts puts @scalar/api-reference's standalone bundle. */
export const SCALAR_BUNDLE_PATH = '/docs/scalar.standalone.js';

function randomNonce(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

function docsPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    // The reference fetches the spec and, from "Test Request", this API itself.
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function registerDocs(app: OpenAPIHono<AppEnv>): void {
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;

  app.get('/openapi.json', (c) => {
    document ??= buildOpenApiDocument(app);
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(document);
  });

  app.get('/docs', (c, next) => {
    const nonce = randomNonce();
    c.header('Content-Security-Policy', docsPolicy(nonce));
    c.header('Cache-Control', 'no-cache');
    return Scalar<AppEnv>({
      url: '/openapi.json',
      pageTitle: 'Switchyard API reference',
      cdn: SCALAR_BUNDLE_PATH,
      nonce,
      withDefaultFonts: false,
      telemetry: false,
      hideClientButton: true,
      showDeveloperTools: 'never',
      agent: { disabled: true },
      mcp: { disabled: true },
      documentDownloadType: 'json',
    })(c, next);
  });

  app.get(SCALAR_BUNDLE_PATH, async (c) => {
    const assets = c.get('config').assets;
    if (!assets) throw new ApiError('not_found', { detail: 'The docs bundle is not deployed with this Worker.' });
    const asset = await assets.fetch(new Request(new URL(SCALAR_BUNDLE_PATH, c.req.url), { headers: c.req.raw.headers }));
    if (!asset.ok && asset.status !== 304) throw new ApiError('not_found', { detail: 'The docs bundle is missing; run `npm run assets`.' });
    const response = new Response(asset.body, asset);
    response.headers.set('Cache-Control', 'public, max-age=3600');
    return response;
  });
}
