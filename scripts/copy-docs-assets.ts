/**
 * Copies the pinned @scalar/api-reference standalone bundle into public/, the Worker's static
 * assets, so /docs loads it from the Worker itself and never from a CDN. Idempotent.
 *
 *   node scripts/copy-docs-assets.ts
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package's exports map hides dist/browser, so the file is addressed in node_modules directly.
const source = join(root, 'node_modules', '@scalar', 'api-reference', 'dist', 'browser', 'standalone.js');
const target = join(root, 'public', 'docs', 'scalar.standalone.js');

const [from, to] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
if (to && to.size === from.size && to.mtimeMs >= from.mtimeMs) {
  console.log('docs assets are up to date');
} else {
  await mkdir(dirname(target), { recursive: true });
  await copyFile(source, target);
  console.log(`copied the Scalar bundle (${(from.size / 1024 / 1024).toFixed(1)} MiB) to public/docs/`);
}
