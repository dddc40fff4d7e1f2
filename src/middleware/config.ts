/**
 * @module
 * Fails closed on bad configuration: a request reaching a misconfigured Worker gets a 500 problem
 * and the request's log line names what is wrong (never the values), instead of a half-configured
 * server answering.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { guardD1 } from '../db/guarded-d1.ts';
import { loadConfig } from '../env.ts';
import { ApiError } from '../errors.ts';

export function requireValidConfig(): MiddlewareHandler<AppEnv> {
  return async function requireValidConfig(c, next) {
    const loaded = loadConfig(c.env);
    if (!loaded.ok) {
      throw new ApiError('service_misconfigured', {
        detail: 'The service cannot handle requests until its configuration is fixed.',
        cause: new Error(`invalid configuration: ${loaded.problems.join('; ')}`),
      });
    }
    // Per request, so the binding's calls stop at this request's deadline; the breaker behind it is
    // per binding (so per isolate), shared by every request.
    c.set('config', {
      ...loaded.config,
      db: guardD1(loaded.config.db, { deadlineAt: c.get('deadlineAt'), telemetry: c.get('telemetry'), meter: c.get('meter') }),
    });
    await next();
  };
}
