/**
 * @module
 * The chaos build's entry (`[env.chaos]` in wrangler.toml, run by `npm run soak`): the production
 * Worker of src/index.ts, its app, cron and Durable Object classes unchanged, handed an env whose
 * D1 and Durable Object bindings inject faults at `CHAOS_FAULT_RATE` (seeded by `CHAOS_SEED`).
 * Nothing outside src/chaos/ imports this directory (.dependency-cruiser.cjs), and
 * `npm run test:bundle` checks that the production bundle holds none of it.
 */

import type { Bindings } from '../env.ts';
import worker from '../index.ts';
import { createLogger } from '../lib/logger.ts';
import { chaosD1 } from './d1.ts';
import { chaosNamespace } from './durable-objects.ts';
import { chaosSettings, createChaos, FAULT_RATE_VARIABLE, SEED_VARIABLE } from './faults.ts';

// The Workflows run with the plain bindings: the runtime hands them their env directly, not through
// this entry, and their steps retry what a fault would fail.
export { ErasureWorkflow, OrganizationExportWorkflow, RateLimiter, SessionRoom } from '../index.ts';

type ChaosBindings = Bindings & { [FAULT_RATE_VARIABLE]?: string; [SEED_VARIABLE]?: string };

// One wrapped env per runtime env, so per isolate: the Worker keys its parsed configuration, its
// guarded D1 and its breakers by these objects, and they must live as long as in production.
const chaoticEnvs = new WeakMap<object, Bindings>();

function chaotic(env: ChaosBindings): Bindings {
  let wrapped = chaoticEnvs.get(env);
  if (wrapped === undefined) {
    if (env.ENVIRONMENT === 'production') throw new Error('the chaos build refuses to run with ENVIRONMENT=production');
    const settings = chaosSettings(env);
    const logger = createLogger('info', { chaos_seed: settings.seed });
    logger.warn('chaos: injecting faults into D1 and Durable Object calls', { fault_rate: settings.faultRate });
    const chaos = createChaos(settings, logger);
    wrapped = {
      ...env,
      DB: chaosD1(env.DB, chaos),
      RATE_LIMITER: chaosNamespace(env.RATE_LIMITER, chaos, 'RateLimiter'),
      SESSION_ROOM: chaosNamespace(env.SESSION_ROOM, chaos, 'SessionRoom'),
    };
    chaoticEnvs.set(env, wrapped);
  }
  return wrapped;
}

// biome-ignore lint/style/noDefaultExport: Wrangler needs the handler object as the default export.
export default {
  fetch: (request, env, ctx) => worker.fetch(request, chaotic(env), ctx),
  scheduled: (controller, env) => worker.scheduled(controller, chaotic(env)),
  queue: (batch, env) => worker.queue(batch, chaotic(env)),
} satisfies ExportedHandler<ChaosBindings>;
