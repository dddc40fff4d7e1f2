/**
 * Runs the Worker locally with `wrangler dev` on 127.0.0.1: applies the D1 migrations to the
 * chosen persistence directory first, waits until /health answers, and stops the whole process
 * group on demand. Used by `npm start`, `npm run fuzz`, the soak and the checks that need a Worker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..', '..');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');

/** Environment for every wrangler call: no metrics, no Request.cf fetch (offline machines). */
export const WRANGLER_ENV = {
  ...process.env,
  // wrangler's bin runs `env node`: put this Node (the project's pinned 22) first, even outside npm scripts.
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_LOG: process.env.WRANGLER_LOG ?? 'warn',
};

export interface LocalWorkerOptions {
  port: number;
  /** Where local D1 and other state live (wrangler's --persist-to). */
  persistTo: string;
  /** Extra `--var NAME:VALUE` settings. */
  vars?: Record<string, string>;
  /** Turn wrangler's local observability off (it costs time per request and fills the disk under load). */
  quiet?: boolean;
  /**
   * Where the Worker's own output goes (an open file descriptor writes it to that file; a function
   * gets each line, without its line break, and the stream it came on); inherits the terminal when absent.
   */
  log?: 'inherit' | 'ignore' | number | ((line: string, stream: 'stdout' | 'stderr') => void);
  /**
   * wrangler's log level for this run (`WRANGLER_LOG`; default: the caller's, else `warn`). The
   * Worker's own `console.log` lines (its info-level request lines) show only at `log` or `debug`.
   */
  wranglerLog?: 'none' | 'error' | 'warn' | 'info' | 'log' | 'debug';
}

export interface LocalWorker {
  url: string;
  /** Stops wrangler and the workerd processes it started, waiting for them (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Sends the process group SIGTERM and returns at once: for a process that is exiting and cannot wait. */
  signal(): void;
}

export function run(command: string, args: string[], env: NodeJS.ProcessEnv = WRANGLER_ENV): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/** The secrets a local run needs; .dev.vars gets a random value for each it lacks. */
const LOCAL_SECRETS = ['SESSION_JWT_SECRET', 'STORAGE_ENCRYPTION_SECRET'];

/** Adds to .dev.vars a random value for each secret it lacks, so local runs pass the start-up checks. */
export async function ensureDevVars(): Promise<void> {
  const file = join(ROOT, '.dev.vars');
  let contents = existsSync(file) ? await readFile(file, 'utf8') : '';
  const before = contents;
  for (const name of LOCAL_SECRETS) {
    if (new RegExp(`^${name}=`, 'm').test(contents)) continue;
    if (contents !== '' && !contents.endsWith('\n')) contents += '\n';
    contents += `${name}=${randomBytes(32).toString('base64url')}\n`;
  }
  if (contents !== before) await writeFile(file, contents, { mode: 0o600 });
}

export async function migrateLocal(persistTo: string): Promise<void> {
  await run(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo]);
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode} before it answered`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the Worker did not answer ${url}/health within ${timeoutMs} ms`);
}

export async function startLocalWorker(options: LocalWorkerOptions): Promise<LocalWorker> {
  const args = [
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--persist-to',
    options.persistTo,
    '--show-interactive-dev-session=false',
  ];
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push('--var', `${name}:${value}`);
  const env = {
    ...WRANGLER_ENV,
    ...(options.quiet ? { X_LOCAL_OBSERVABILITY: 'false' } : {}),
    ...(options.wranglerLog ? { WRANGLER_LOG: options.wranglerLog } : {}),
  };
  const log = options.log ?? 'inherit';
  const onLine = typeof log === 'function' ? log : undefined;
  const output = typeof log === 'function' ? 'pipe' : log;
  // detached: its own process group, so stop() ends wrangler and the workerd processes it starts.
  const child = spawn(WRANGLER, args, { cwd: ROOT, env, stdio: ['ignore', output, output], detached: true });
  if (onLine) {
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      if (stream) createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => onLine(line, name));
    }
  }
  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForHealth(url, child, 90_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const signal = () => {
    try {
      if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  return { url, stop, signal };
}

/** A port on 127.0.0.1 nothing listens on at the moment of asking (the system picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}
