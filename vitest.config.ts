import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

const migrations = await readD1Migrations('migrations');

// biome-ignore lint/style/noDefaultExport: vitest loads its config from the default export.
export default defineConfig({
  // The Worker's bundle resolves `zod` to src/bundle/zod.ts (wrangler.toml's [alias]): so do the tests.
  resolve: { alias: [{ find: /^zod$/, replacement: fileURLToPath(new URL('./src/bundle/zod.ts', import.meta.url)) }] },
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          ENVIRONMENT: 'test',
          // A fixed test-only secret: 41 bytes, above the 32-byte minimum.
          SESSION_JWT_SECRET: 'test-only-session-secret-0123456789abcdef',
          STORAGE_ENCRYPTION_SECRET: 'test-only-storage-secret-0123456789abcdef',
          TEST_MIGRATIONS: migrations,
        },
        // A second, never-migrated database: /ready must refuse it.
        d1Databases: { DB: 'switchyard-test', UNMIGRATED_DB: 'switchyard-unmigrated' },
        // Deliveries are sent to a queue nothing consumes: a test runs the consumer itself, with the
        // messages the queue would hand it, since the retry schedule's delays (minutes to hours) are
        // passed with the test clock, not waited for (test/helpers/webhooks.ts).
        queueProducers: { WEBHOOK_QUEUE: 'switchyard-webhooks-test' },
        // Export archives (the Workflow itself comes from wrangler.toml, run by the local engine).
        r2Buckets: { EXPORTS: 'switchyard-exports-test' },
        // Every webhook request goes to the receiver Worker, and the tests read what it got.
        serviceBindings: { WEBHOOK_EGRESS: 'receiver', RECEIVER: 'receiver' },
        workers: [{ name: 'receiver', modules: true, scriptPath: './test/receiver/receiver.mjs', compatibilityDate: '2026-10-01' }],
      },
    }),
  ],
  test: {
    setupFiles: ['./test/setup/apply-migrations.ts'],
    include: ['test/**/*.test.ts'],
    // The Worker logs a JSON line per request; show them only for failing tests.
    silent: 'passed-only',
    // The JUnit file lets .ci/run count what ran; the default reporter is for people.
    reporters: ['default', ['junit', { outputFile: 'reports/vitest-junit.xml' }]],
  },
});
