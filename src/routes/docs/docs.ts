/**
 * @module
 * The interactive reference at `/docs` and the spec at `/openapi.json`. Not part of the spec
 * themselves. The Scalar bundle is served from the Worker's own static assets, pinned by the
 * package lock, so the page works with no internet and under a CSP that allows nothing else.
 * `npm run test:docs` (scripts/check-docs.ts) proves it in a real headless Chromium: the page
 * renders, makes no request off the Worker's origin, raises no CSP violation and shows none of
 * the vendor's upsells. Run it after any change here or any Scalar upgrade.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { AppEnv } from '../../context.ts';
import { ApiError } from '../../errors.ts';
import { buildOpenApiDocument } from '../../openapi.ts';

/** Where scripts/copy-docs-assets.ts puts @scalar/api-reference's standalone bundle. */
export const SCALAR_BUNDLE_PATH = '/docs/scalar.standalone.js';

/** An inline icon, so the browser does not ask the API for /favicon.ico (a 404 and a console error). */
const FAVICON = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#e36002"/></svg>',
)}`;

/**
 * Runs before the bundle, under the page nonce (it reads the nonce from its own element).
 *
 * - zod, bundled inside Scalar, probes `Function('')` once to decide whether to compile its parsers;
 *   under this CSP (no 'unsafe-eval') that probe is a reported violation. `jitless` is zod's own
 *   switch for pages without eval, read from the global config every zod copy shares.
 * - Scalar's scripts create `<style>` elements at run time: its Tailwind sheet (which already reads
 *   the nonce from `<meta property="csp-nonce">`), but also the toast styles, the theme (customCss +
 *   theme variables, from a Vue `<style>` node) and CodeMirror's editor styles in "Test Request",
 *   whose text changes with the editors on screen, so no hash list can cover them. This gives the
 *   nonce to every `<style>` created through `document.createElement`, which only script can call,
 *   and only nonced scripts run here: trust passes from a trusted script to the styles it makes
 *   (as 'strict-dynamic' does for scripts), while a `<style>` smuggled in as markup (a spec
 *   description rendered as HTML) still has no nonce and stays blocked.
 */
const PAGE_SETUP = [
  '(() => {',
  '  globalThis.__zod_globalConfig = Object.assign(globalThis.__zod_globalConfig || {}, { jitless: true });',
  '  const nonce = document.currentScript.nonce;',
  '  const createElement = Document.prototype.createElement;',
  '  Document.prototype.createElement = function (tagName, options) {',
  '    const element = createElement.call(this, tagName, options);',
  '    if (element instanceof HTMLStyleElement) element.nonce = nonce;',
  '    return element;',
  '  };',
  '})();',
].join('\n');

/**
 * Hidden with CSS because no option removes it: the sidebar footer's "Powered by Scalar" link to
 * scalar.com (with tracking parameters). The selector also catches any other link to the vendor's
 * services that a future version adds where an option has not hidden it yet.
 */
const CUSTOM_CSS = 'a[href*="scalar.com"] { display: none !important; }';

function randomNonce(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

function docsPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    // Nonce only: the bundle, Scalar's inline start-up script and PAGE_SETUP carry it; nothing else
    // may run, not even another file from this origin.
    `script-src 'nonce-${nonce}'`,
    // <style> elements: the page's own and those its scripts create (see PAGE_SETUP); no stylesheet files.
    `style-src 'nonce-${nonce}'`,
    // style="" attributes cannot carry a nonce, and Scalar writes some as markup: the highlighted
    // code blocks (`style="--line-count: N; --line-digits: D"`, N varies with every example) and a
    // scrollbar-width probe (setAttribute('style', …)). A hash list ('unsafe-hashes') cannot follow
    // N, so attributes alone get 'unsafe-inline'. An attribute has no selectors (no CSS
    // exfiltration through attribute selectors) and can load nothing: img-src and default-src below
    // still decide every url() it names. Browsers without style-src-attr fall back to style-src and
    // only lose those cosmetic attributes.
    "style-src-attr 'unsafe-inline'",
    // The inline favicon, and images a spec description may serve from this Worker.
    "img-src 'self' data:",
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

  app.get('/docs', async (c, next) => {
    const nonce = randomNonce();
    const rendered = await Scalar<AppEnv>({
      url: '/openapi.json',
      pageTitle: 'Switchyard API reference',
      cdn: SCALAR_BUNDLE_PATH,
      nonce,
      withDefaultFonts: false,
      favicon: FAVICON,
      customCss: CUSTOM_CSS,
      documentDownloadType: 'json',
      // No usage pings to the vendor.
      telemetry: false,
      // The vendor's upsells. Scalar turns most of them on for local hosts (localhost, 127.0.0.1,
      // *.test), so a local run shows all of them and is what scripts/check-docs.ts checks.
      // "Ask AI" (sidebar) and "Ask AI Agent": the vendor's hosted agent.
      agent: { disabled: true },
      // The sidebar footer holds one promo: the "Generate SDKs & MCP" card (local hosts), an MCP card
      // ("Generate MCP", "Connect MCP", Cursor, VS Code) or "Open API Client". With mcp disabled and
      // hideClientButton below, it holds none.
      mcp: { disabled: true },
      // The top toolbar ("Developer Tools", "Configure", "Share" uploads the spec to
      // registry.scalar.com, "Deploy" on dashboard.scalar.com, "Generate SDK"), and the "Generate SDK"
      // buttons in the Client Libraries card and beside each request example.
      showDeveloperTools: 'never',
      // "Open API Client" (in "Test Request" and the sidebar footer): opens this spec's URL on
      // client.scalar.com.
      hideClientButton: true,
      // No proxyUrl: "Test Request" calls this API directly, never through proxy.scalar.com.
    })(c, next);
    // Fail loudly (a 500 and a log line) rather than serve a page whose setup script is missing.
    const html = rendered ? await rendered.text() : '';
    if (!html.includes('</head>')) throw new Error('@scalar/hono-api-reference returned no <head> to add the page setup to');
    c.header('Content-Security-Policy', docsPolicy(nonce));
    c.header('Cache-Control', 'no-cache');
    return c.html(html.replace('</head>', `  <script nonce="${nonce}">\n${PAGE_SETUP}\n    </script>\n  </head>`));
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
