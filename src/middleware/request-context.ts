/**
 * @module
 * Request context: W3C trace context, a timer, a logger bound to the request, and the one
 * structured log line each request produces. Runs right after hono/request-id, before anything
 * that can fail, so every response — errors included — carries `X-Request-Id` and `traceparent`,
 * and every request — refused ones included — writes its metric (lib/metrics.ts).
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { loadConfig } from '../env.ts';
import { createLogger } from '../lib/logger.ts';
import { type RequestMeter, recordEvent, type Telemetry } from '../lib/metrics.ts';
import { requestUrlParts } from '../lib/request-url.ts';
import { routeTemplate } from '../lib/route-template.ts';
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
    const telemetry: Telemetry = { dataset: loaded.ok ? loaded.config.metrics : undefined, requestId: c.get('requestId') };
    const meter: RequestMeter = { d1Ms: 0, d1Queries: 0 };
    c.set('telemetry', telemetry);
    c.set('meter', meter);
    c.header('traceparent', formatTraceparent(trace));

    await next();

    const status = c.res.status;
    const unexpectedError = c.get('unexpectedError');
    const url = requestUrlParts(c.req.url);
    const route = routeTemplate(c);
    const userAgent = c.req.header('user-agent');
    const agentState = userAgentState(userAgent);
    const durationMs = Math.round((performance.now() - startedAt) * 100) / 100;
    recordEvent(telemetry, {
      kind: 'request',
      // An unknown path is counted as one route: the path itself is the caller's to fill.
      name: route ?? 'unmatched',
      detail: c.req.method,
      cache: meter.cache,
      userAgentState: agentState === 'present' ? undefined : agentState,
      errorCode: c.get('errorCode'),
      value: status,
      durationMs,
      d1Ms: Math.round(meter.d1Ms * 100) / 100,
      d1Queries: meter.d1Queries,
    });
    logger[status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info']('request', {
      method: c.req.method,
      route,
      path: url.pathname,
      query: url.search || undefined,
      status,
      duration_ms: durationMs,
      // Cut, so a refused, oversized one does not bloat the line; JSON escapes its control characters.
      user_agent: userAgent?.slice(0, LOGGED_USER_AGENT_LENGTH),
      // Only when it is not a usable one: missing, empty or malformed (refused) User-Agents are counted by it.
      ...(agentState === 'present' ? {} : { user_agent_state: agentState }),
      ...(unexpectedError !== undefined ? { error: unexpectedError } : {}),
    });
  };
}
