/**
 * @module
 * Security headers, by what the response is. Every response gets the set OWASP's REST Security
 * Cheat Sheet asks of an API: `Cache-Control: no-store`, a CSP that allows nothing and no framing,
 * `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, and HSTS in production. An HTML page
 * (the docs) also gets the headers that only matter to a document a browser renders: opener and
 * resource isolation, referrer, permissions, and the legacy ones helmet still sends.
 *
 * Written here rather than mounted from hono/secure-headers, which sends all fifteen on every JSON
 * response: in workerd each header costs CPU on every response (~3 µs measured, bench/README.md),
 * and on a JSON API answered to a Bearer token the document headers protect nothing.
 * A route that sets its own policy or caching (the docs page, the spec) keeps it.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';

/** Set unless the route set them. */
const API_DEFAULTS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cache-Control', 'no-store'],
];

const API_ALWAYS: ReadonlyArray<readonly [string, string]> = [
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];

const DOCUMENT_ALWAYS: ReadonlyArray<readonly [string, string]> = [
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Permissions-Policy', 'camera=(), microphone=(), geolocation=()'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

const HSTS = 'max-age=63072000; includeSubDomains';

/**
 * HSTS only in production: on `wrangler dev` over plain HTTP it would be meaningless. Responses are
 * `Cache-Control: no-store` unless a route says otherwise, so no shared cache keeps a tenant's data.
 *
 * @example
 * ```ts
 * app.use(securityHeaders())
 * ```
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    await next();
    const headers = c.res.headers;
    for (const [name, value] of API_DEFAULTS) if (!headers.has(name)) headers.set(name, value);
    for (const [name, value] of API_ALWAYS) headers.set(name, value);
    if (headers.get('Content-Type')?.startsWith('text/html')) for (const [name, value] of DOCUMENT_ALWAYS) headers.set(name, value);
    // Read from the raw variable: this runs before (and around) the config check, so its 500 gets headers too.
    if (c.env.ENVIRONMENT === 'production') headers.set('Strict-Transport-Security', HSTS);
  };
}
