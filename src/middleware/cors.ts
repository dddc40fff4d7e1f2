/**
 * @module
 * CORS from the `CORS_ORIGINS` allowlist, through hono/cors. Credentials are never allowed: the API
 * authenticates with an `Authorization` header, not cookies, so no Origin is ever reflected with
 * `Access-Control-Allow-Credentials`. A wildcard is only accepted outside production (see env.ts).
 */
import type { MiddlewareHandler } from 'hono';
import { cors as honoCors } from 'hono/cors';
import type { AppEnv } from '../context.ts';
import { recordSecurityEvent } from '../lib/security-events.ts';
import { BOOKMARK_HEADER } from '../schemas/responses.ts';

const ALLOWED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
// The bookmark both ways (middleware/d1-session.ts): a browser app reads it from one answer and sends it on the next.
const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'If-Match',
  'If-None-Match',
  'X-Request-Id',
  'traceparent',
  BOOKMARK_HEADER,
];
const EXPOSED_HEADERS = [
  BOOKMARK_HEADER,
  'X-Request-Id',
  'traceparent',
  'Location',
  'ETag',
  'Retry-After',
  'RateLimit',
  'RateLimit-Policy',
  'Idempotent-Replayed',
];

const handlers = new WeakMap<object, MiddlewareHandler<AppEnv>>();

function buildHandler(allowed: string[] | '*'): MiddlewareHandler<AppEnv> {
  return honoCors({
    origin: allowed === '*' ? '*' : (origin) => (allowed.includes(origin) ? origin : null),
    allowMethods: ALLOWED_METHODS,
    allowHeaders: ALLOWED_HEADERS,
    exposeHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
  }) as MiddlewareHandler<AppEnv>;
}

/**
 * An `OPTIONS` request without `Origin` and `Access-Control-Request-Method` is not a preflight: it
 * goes on to routing and gets 405 with `Allow`, rather than an empty 204 for any path.
 *
 * @example
 * ```ts
 * app.use(cors())  // after requireValidConfig(), which provides c.var.config.corsOrigins
 * ```
 */
export function cors(): MiddlewareHandler<AppEnv> {
  return async function cors(c, next) {
    const origin = c.req.header('Origin');
    const isPreflight = c.req.method === 'OPTIONS' && origin && c.req.header('Access-Control-Request-Method');
    if (c.req.method === 'OPTIONS' && !isPreflight) return next();
    const config = c.get('config');
    // No Origin, no CORS: servers and CLIs (most of the traffic) skip hono/cors, which touches
    // c.res before the handler runs and so costs two extra Response copies per request (profiled,
    // bench/README.md). The answer still varies by Origin, and says so.
    if (origin === undefined) {
      await next();
      // Straight on the response: c.header() on a finished response copies the whole Response first.
      if (config.corsOrigins !== '*') c.res.headers.append('Vary', 'Origin');
      return;
    }
    // A browser on another origin, which will not be let read the answer. Its own origin (the /docs
    // page trying a request) is same-origin, not a refusal; CORS does not govern a WebSocket, whose
    // Origin the connect route checks and refuses itself (origin_refused).
    const refused = config.corsOrigins !== '*' && !config.corsOrigins.includes(origin) && origin !== new URL(c.req.url).origin;
    if (refused && c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      recordSecurityEvent(
        c.get('logger'),
        c.get('telemetry'),
        { event: 'cors_refused', reason: isPreflight ? 'preflight_origin_not_allowed' : 'origin_not_allowed', details: { origin } },
        { method: c.req.method },
      );
    }
    let handler = handlers.get(config);
    if (!handler) {
      handler = buildHandler(config.corsOrigins);
      handlers.set(config, handler);
    }
    return handler(c, next);
  };
}
