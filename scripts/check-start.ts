/**
 * `npm run test:start`: every way of stopping `npm start` stops everything it started. Starts it
 * (on a port of its own), waits until it serves, stops it one way, and checks that the process
 * exited and that nothing serves on the port any more (wrangler and workerd included). The ways:
 * Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it), SIGTERM to the
 * npm process alone (what a process supervisor sends), SIGTERM and SIGHUP to the start script
 * itself. Ends with `start: N passed, N failed`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ROOT, WRANGLER_ENV } from './lib/local-worker.ts';

const PORT = Number(process.env.START_CHECK_PORT ?? 8791);
const URL_HEALTH = `http://127.0.0.1:${PORT}/health`;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Way {
  name: string;
  command: [string, string[]];
  signal: NodeJS.Signals;
  /** To the process's group (a terminal's Ctrl-C), not to the process alone. */
  toGroup?: boolean;
}

const WAYS: Way[] = [
  { name: 'Ctrl-C (SIGINT to the group of `npm start`)', command: [NPM, ['start']], signal: 'SIGINT', toGroup: true },
  { name: 'SIGTERM to `npm start`', command: [NPM, ['start']], signal: 'SIGTERM' },
  { name: 'SIGTERM to scripts/start.ts', command: [process.execPath, ['scripts/start.ts']], signal: 'SIGTERM' },
  { name: 'SIGHUP to scripts/start.ts', command: [process.execPath, ['scripts/start.ts']], signal: 'SIGHUP' },
];

async function serving(): Promise<boolean> {
  try {
    const response = await fetch(URL_HEALTH, { signal: AbortSignal.timeout(1_000) });
    return response.ok;
  } catch {
    return false;
  }
}

async function until(predicate: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function check(way: Way): Promise<{ ok: boolean; detail: string }> {
  if (await serving()) return { ok: false, detail: `something already serves on ${PORT}` };
  const [command, args] = way.command;
  // Its own process group, as a shell's foreground job has.
  const child = spawn(command, args, { cwd: ROOT, env: { ...WRANGLER_ENV, PORT: String(PORT) }, stdio: 'ignore', detached: true });
  const gone = exited(child);
  try {
    if (!(await until(serving, 120_000))) return { ok: false, detail: 'never started serving' };
    if (way.toGroup && child.pid !== undefined) process.kill(-child.pid, way.signal);
    else child.kill(way.signal);
    const stopped = await Promise.race([
      gone.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000)),
    ]);
    if (!stopped) return { ok: false, detail: 'the process did not exit within 20 s' };
    // Its Worker must be gone too: nothing answers on the port.
    const quiet = await until(async () => !(await serving()), 10_000);
    return quiet ? { ok: true, detail: 'exited, port free' } : { ok: false, detail: 'exited, but the port still serves' };
  } finally {
    // Whatever failed, leave nothing behind for the next way: the group, then anything still on the port.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

let failed = 0;
for (const way of WAYS) {
  const result = await check(way);
  if (!result.ok) failed += 1;
  console.log(`${result.ok ? 'PASS' : 'FAIL'}  ${way.name}: ${result.detail}`);
}
console.log(`start: ${WAYS.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
