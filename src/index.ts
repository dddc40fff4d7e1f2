/**
 * @module
 * The Worker entry: HTTP requests, the hourly clean-up, and the Durable Object classes. The app is
 * built once per isolate; configuration is checked on the first request that uses an env (see
 * middleware/config.ts) and cached for the isolate.
 */
import { createApp } from './app.ts';
import { purgeEndedDeviceConnections } from './db/device-connections.ts';
import { purgeExpiredIdempotencyKeys } from './db/idempotency-keys.ts';
import { type Bindings, loadConfig } from './env.ts';
import { nowIso } from './lib/clock.ts';
import { createLogger } from './lib/logger.ts';

export { RateLimiter } from './durable-objects/rate-limiter.ts';
export { SessionRoom } from './durable-objects/session-room.ts';

const app = createApp();

// biome-ignore lint/style/noDefaultExport: Wrangler needs the handler object as the default export.
export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),

  async scheduled(controller, env) {
    const loaded = loadConfig(env);
    const logger = createLogger(loaded.ok ? loaded.config.logLevel : 'info', { cron: controller.cron });
    if (!loaded.ok) {
      logger.error('scheduled run skipped: invalid configuration', { problems: loaded.problems });
      return;
    }
    const now = nowIso();
    const deleted = await purgeExpiredIdempotencyKeys(loaded.config.db, now);
    logger.info('purged expired idempotency keys', { deleted });
    const connections = await purgeEndedDeviceConnections(loaded.config.db, now);
    logger.info('purged device connections of ended sessions', { deleted: connections });
  },
} satisfies ExportedHandler<Bindings>;
