/**
 * @module
 * Request context: W3C trace context, a timer, a logger bound to the request, and the one
 * structured log line each request produces. Runs right after hono/request-id, before anything
 * that can fail, so every response — errors included — carries `X-Request-Id` and `traceparent`.
 */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from '../context.ts';
import { loadConfig } from '../env.ts';
import { createLogger } from '../lib/logger.ts';
import { continueOrStartTrace, formatTraceparent } from '../lib/trace-context.ts';
import { userAgentState } from '../lib/user-agent.ts';

const LOGGED_USER_AGENT_LENGTH = 256;

/**
 * @example
 * ```ts
 * app.use(requestId(), requestContext())
 * // → {"level":"info","msg":"request","method":"GET","route":"/health","status":200,"duration_ms":1.2,…}
 * ```
 */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async function requestContext(c, next) {
    const startedAt = performance.now();
    const trace = continueOrStartTrace(c.req.header('traceparent'));
    const loaded = loadConfig(c.env);
    const logger = createLogger(loaded.ok ? loaded.config.logLevel : 'info', {
      request_id: c.get('requestId'),
      trace_id: trace.traceId,
      span_id: trace.spanId,
    });
    c.set('startedAt', startedAt);
    c.set('traceId', trace.traceId);
    c.set('spanId', trace.spanId);
    c.set('logger', logger);
    c.header('traceparent', formatTraceparent(trace));

    await next();

    const status = c.res.status;
    const unexpectedError = c.get('unexpectedError');
    const url = new URL(c.req.url);
    const route = routePath(c, -1);
    const userAgent = c.req.header('user-agent');
    const agentState = userAgentState(userAgent);
    logger[status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info']('request', {
      method: c.req.method,
      // The matched route template (`/v1/devices/:id`), not the path, so lines group by route.
      route: route === '/*' || route === '*' ? null : route,
      path: url.pathname,
      query: url.search || undefined,
      status,
      duration_ms: Math.round((performance.now() - startedAt) * 100) / 100,
      // Cut, so a refused, oversized one does not bloat the line; JSON escapes its control characters.
      user_agent: userAgent?.slice(0, LOGGED_USER_AGENT_LENGTH),
      // Only when it is not a usable one: missing, empty or malformed (refused) User-Agents are counted by it.
      ...(agentState === 'present' ? {} : { user_agent_state: agentState }),
      ...(unexpectedError !== undefined ? { error: unexpectedError } : {}),
    });
  };
}
