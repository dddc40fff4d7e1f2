import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// biome-ignore lint/style/noDefaultExport: vitest loads its config from the default export.
export default defineConfig(async () => {
  const migrations = await readD1Migrations('migrations');
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            ENVIRONMENT: 'test',
            // A fixed test-only secret: 40 bytes, above the 32-byte minimum.
            SESSION_JWT_SECRET: 'test-only-session-secret-0123456789abcdef',
            TEST_MIGRATIONS: migrations,
          },
          // A second, never-migrated database: /ready must refuse it.
          d1Databases: { DB: 'switchyard-test', UNMIGRATED_DB: 'switchyard-unmigrated' },
        },
      }),
    ],
    test: {
      setupFiles: ['./test/setup/apply-migrations.ts'],
      include: ['test/**/*.test.ts'],
    },
  };
});
