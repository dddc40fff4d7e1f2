/**
 * @module
 * The Worker entry: HTTP requests, the hourly retention run (scheduled.ts), the minutely webhook
 * sweep and the webhook queues' consumers (delivery/), and the Durable Object and Workflow classes. The app is built once per isolate; configuration is checked on the first request that
 * uses an env (see middleware/config.ts) and cached for the isolate.
 */
import { createApp } from './app.ts';
import { guardD1 } from './db/guarded-d1.ts';
import { deliverBatch, recordDeadLetters } from './delivery/deliver.ts';
import { SWEEP_CRON, sweepWebhooks } from './delivery/sweep.ts';
import { type Bindings, loadConfig } from './env.ts';
import { createLogger } from './lib/logger.ts';
import { runRetention } from './scheduled.ts';
import type { DeliveryMessage } from './schemas/webhook-attempts.ts';

export { RateLimiter } from './durable-objects/rate-limiter.ts';
export { SessionRoom } from './durable-objects/session-room.ts';
export { ErasureWorkflow } from './workflows/erasure.ts';
export { OrganizationExportWorkflow } from './workflows/organization-export.ts';

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
    const config = { ...loaded.config, db: guardD1(loaded.config.db, { telemetry: { dataset: loaded.config.metrics } }) };
    if (controller.cron === SWEEP_CRON) {
      await sweepWebhooks(config, logger, new Date(controller.scheduledTime));
      return;
    }
    // The time the run was due, not when it started: a late start deletes what it would have.
    await runRetention(loaded.config, logger, new Date(controller.scheduledTime));
  },

  async queue(batch, env) {
    const loaded = loadConfig(env);
    const logger = createLogger(loaded.ok ? loaded.config.logLevel : 'info', { queue: batch.queue });
    if (!loaded.ok) {
      logger.error('queue batch not handled: invalid configuration', { problems: loaded.problems });
      batch.retryAll({ delaySeconds: 60 });
      return;
    }
    const config = { ...loaded.config, db: guardD1(loaded.config.db, { telemetry: { dataset: loaded.config.metrics } }) };
    const messages = batch as MessageBatch<DeliveryMessage>;
    if (batch.queue.endsWith('-dlq')) await recordDeadLetters(messages, config, logger);
    else await deliverBatch(messages, config, logger);
  },
} satisfies ExportedHandler<Bindings>;
