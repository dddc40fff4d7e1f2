/**
 * @module
 * Fails closed on bad configuration: a request reaching a misconfigured Worker gets a 500 problem
 * and the request's log line names what is wrong (never the values), instead of a half-configured
 * server answering.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
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
    // `db` is still the bare binding here: middleware/d1-session.ts replaces it with the request's
    // guarded D1 session before anything queries it.
    c.set('config', loaded.config);
    await next();
  };
}
