/**
 * @module
 * Security headers for a JSON API, from hono/secure-headers. A route that needs another policy (the
 * docs page) sets its own header first: `overwrite: false` keeps it.
 */
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

type SecureHeadersOptions = NonNullable<Parameters<typeof secureHeaders>[0]>;

import type { AppEnv } from '../context.ts';

const API_POLICY: SecureHeadersOptions = {
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  referrerPolicy: 'no-referrer',
  xFrameOptions: 'DENY',
  crossOriginResourcePolicy: 'same-origin',
  permissionsPolicy: { camera: [], microphone: [], geolocation: [] },
  removePoweredBy: true,
  overwrite: false,
};

const withHsts = secureHeaders({ ...API_POLICY, strictTransportSecurity: 'max-age=63072000; includeSubDomains' });
const withoutHsts = secureHeaders({ ...API_POLICY, strictTransportSecurity: false });

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
    // Read from the raw variable: this runs before (and around) the config check, so its 500 gets headers too.
    const apply = c.env.ENVIRONMENT === 'production' ? withHsts : withoutHsts;
    await apply(c, next);
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  };
}
