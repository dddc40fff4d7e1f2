/**
 * `npm run test:bundle`: the fault-injecting code of src/chaos/ never ships. Builds the production
 * environment as `npm run deploy` would and checks that the bundle holds none of it; builds the chaos
 * environment the same way and checks that its bundle does, so a marker that no longer matches the
 * code fails here instead of passing for ever. Ends with `bundle: N passed, N failed`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_RATE_VARIABLE } from '../src/chaos/faults.ts';
import { buildEnvironment, SHIPPED_ENV } from './lib/bench/build.ts';
import { ROOT, run } from './lib/local-worker.ts';

const CHAOS_ENV = 'chaos';

/**
 * What only chaos code contains: the variable it reads (kept by minifiers, a property name), and
 * the module comments esbuild writes above each bundled file.
 */
const MARKERS = [FAULT_RATE_VARIABLE, '// src/chaos/'];

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function markersIn(bundle: string): string[] {
  return MARKERS.filter((marker) => bundle.includes(marker));
}

async function checkBundles(outRoot: string): Promise<Check[]> {
  // wrangler.toml's [assets] directory (public/) is git-ignored: a fresh clone has none until this copy.
  await run(process.execPath, [join(ROOT, 'scripts', 'copy-docs-assets.ts')]);
  const [shipped, chaos] = await Promise.all([
    buildEnvironment(SHIPPED_ENV, join(outRoot, SHIPPED_ENV)).then((path) => readFile(path, 'utf8')),
    buildEnvironment(CHAOS_ENV, join(outRoot, CHAOS_ENV)).then((path) => readFile(path, 'utf8')),
  ]);
  const inShipped = markersIn(shipped);
  const inChaos = markersIn(chaos);
  return [
    {
      name: `the ${SHIPPED_ENV} bundle holds no chaos code`,
      ok: inShipped.length === 0,
      detail: inShipped.length === 0 ? `none of ${MARKERS.join(', ')}` : `found ${inShipped.join(', ')}`,
    },
    {
      name: `the ${CHAOS_ENV} bundle holds it (the markers still match the code)`,
      ok: inChaos.length === MARKERS.length,
      detail: `found ${inChaos.join(', ') || 'none'} of ${MARKERS.join(', ')}`,
    },
  ];
}

const outRoot = await mkdtemp(join(tmpdir(), 'switchyard-bundle-'));
let checks: Check[];
try {
  checks = await checkBundles(outRoot);
} catch (error) {
  checks = [{ name: 'both environments build', ok: false, detail: error instanceof Error ? error.message : String(error) }];
} finally {
  await rm(outRoot, { recursive: true, force: true });
}
for (const check of checks) console.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
const failed = checks.filter((check) => !check.ok).length;
console.log(`bundle: ${checks.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
