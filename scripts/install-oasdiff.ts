/**
 * Installs the pinned oasdiff into .tools/bin/ unless it is there (scripts/lib/oasdiff.ts); the
 * breaking-change gate of `npm run spec:check` does the same on first use. CI runs it as a step of
 * its own (.ci/run), so a missing Go toolchain is named there.
 *
 *   node scripts/install-oasdiff.ts
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureOasdiff, OASDIFF_VERSION } from './lib/oasdiff.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
try {
  console.log(`oasdiff ${OASDIFF_VERSION}: ${await ensureOasdiff(root)}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
