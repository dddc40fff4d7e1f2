/**
 * @module
 * Fails closed on bad configuration: a request reaching a misconfigured Worker gets a 500 problem
 * and the request's log line names what is wrong (never the values), instead of a half-configured
 * server answering.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { guardD1 } from '../db/guarded-d1.ts';
import { type Config, loadConfig } from '../env.ts';
import { ApiError } from '../errors.ts';

// Per loaded configuration (so per isolate): requests share the guarded binding and its breaker.
const guardedConfigs = new WeakMap<Config, Config>();

/** The configuration with its D1 binding behind deadlines, retries and a breaker (db/guarded-d1.ts). */
function guarded(config: Config): Config {
  let result = guardedConfigs.get(config);
  if (result === undefined) {
    result = { ...config, db: guardD1(config.db) };
    guardedConfigs.set(config, result);
  }
  return result;
}

export function requireValidConfig(): MiddlewareHandler<AppEnv> {
  return async function requireValidConfig(c, next) {
    const loaded = loadConfig(c.env);
    if (!loaded.ok) {
      throw new ApiError('service_misconfigured', {
        detail: 'The service cannot handle requests until its configuration is fixed.',
        cause: new Error(`invalid configuration: ${loaded.problems.join('; ')}`),
      });
    }
    c.set('config', guarded(loaded.config));
    await next();
  };
}
