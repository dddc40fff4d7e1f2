/**
 * `npm run test:deploy`: `npm run deploy -- --dry-run` on a fresh machine, both ways. With real
 * origins it checks, builds the minified bundle and passes; with the shipped placeholder origins it
 * refuses before building, naming the setting. Ends with `deploy: N passed, N failed`.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './lib/local-worker.ts';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function dryRun(...extra: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'scripts', 'deploy.ts'), '--dry-run', ...extra],
      { cwd: ROOT, env: { ...process.env, CORS_ORIGINS: undefined }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

const good = await dryRun('--cors-origins', 'https://app.switchyard.dev');
const placeholder = await dryRun();
const staging = await dryRun('--env', 'staging');
const checks: Check[] = [
  {
    name: 'a dry run with real origins checks and builds the production bundle',
    ok: good.code === 0 && good.output.includes('deploy: dry run passed'),
    detail: `exit ${good.code}`,
  },
  {
    name: 'it ships with its metrics dataset and sampled traces',
    ok: good.output.includes('deploy: metrics to dataset switchyard_metrics; traces sampled at 0.05'),
    detail: `exit ${good.code}`,
  },
  {
    name: 'the shipped placeholder origins are refused before anything is built',
    ok:
      placeholder.code === 1 &&
      placeholder.output.includes('deploy: refused: CORS_ORIGINS') &&
      !placeholder.output.includes('dry run passed'),
    detail: `exit ${placeholder.code}`,
  },
  {
    name: 'staging is its own Worker, held to the same checks',
    ok:
      staging.code === 1 &&
      staging.output.includes('Worker switchyard-staging') &&
      staging.output.includes('deploy: refused: CORS_ORIGINS'),
    detail: `exit ${staging.code}`,
  },
];
for (const check of checks) {
  console.log(`${check.ok ? 'PASS' : 'FAIL'}  ${check.name} (${check.detail})`);
  if (!check.ok) console.log([good, placeholder, staging].map((run) => run.output).join('\n---\n'));
}
const failed = checks.filter((check) => !check.ok).length;
console.log(`deploy: ${checks.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
