/**
 * @module
 * The Worker entry. The app is built once per isolate; configuration is checked on the first
 * request that uses an env (see middleware/config.ts) and cached for the isolate.
 */
import { createApp } from './app.ts';
import type { Bindings } from './env.ts';

const app = createApp();

// biome-ignore lint/style/noDefaultExport: Wrangler needs the handler object as the default export.
export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Bindings>;
