/**
 * `npm run test:example`: runs examples/quickstart.ts, as a newcomer would, against a throwaway
 * local Worker and organisation, and checks that the flow reached its end (the session's socket
 * closed with 4000). Ends with `example: N passed, N failed`.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SCOPES } from '../src/schemas/scopes.ts';
import { ensureDevVars, migrateLocal, ROOT, startLocalWorker } from './lib/local-worker.ts';
import { bootstrapOrganization } from './lib/org-bootstrap.ts';

const PERSIST_TO = join(ROOT, '.example-check', 'state');
const PORT = Number(process.env.EXAMPLE_CHECK_PORT ?? 8790);

function runExample(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'examples', 'quickstart.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

await rm(PERSIST_TO, { recursive: true, force: true });
await ensureDevVars();
await migrateLocal(PERSIST_TO);
const org = await bootstrapOrganization({ name: 'Example', scopes: [...SCOPES], plan: 'pro', mode: 'test', persistTo: PERSIST_TO });
const worker = await startLocalWorker({ port: PORT, persistTo: PERSIST_TO, quiet: true, log: 'ignore' });
let passed = false;
try {
  // Found through PORT, as a user who moved `npm start` to another port runs it (no SWITCHYARD_URL).
  const { code, output } = await runExample({
    ...process.env,
    PORT: String(PORT),
    SWITCHYARD_URL: undefined,
    SWITCHYARD_API_KEY: org.apiKey,
  });
  passed = code === 0 && /kiosk socket closed with 4000/.test(output) && /agent\s+got #\d+ message from server/.test(output);
  if (!passed) console.error(`example: the flow did not complete (exit ${code})`);
} finally {
  await worker.stop();
  await rm(join(ROOT, '.example-check'), { recursive: true, force: true });
}
console.log(`example: ${passed ? 1 : 0} passed, ${passed ? 0 : 1} failed`);
process.exitCode = passed ? 0 : 1;
