/**
 * What a benchmark run started, and how it all stops: on success, on error, on Ctrl-C / SIGTERM
 * and when the watchdog fires. Every runtime, socket and temporary directory a run creates is
 * registered here as it is created, so no exit path can leave one behind.
 */
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { stopHttpLoad } from './http-load.ts';
import type { Target } from './targets.ts';

interface Closable {
  close(): void;
}

const started: { targets: Target[]; clients: Closable | undefined; tmpDir: string | undefined } = {
  targets: [],
  clients: undefined,
  tmpDir: undefined,
};
let shuttingDown = false;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, sleep(ms).then(() => undefined)]);
}

export function trackTarget(target: Target): void {
  started.targets.push(target);
}

/** The WebSocket clients of the fan-out run in progress (undefined once it is over). */
export function trackClients(clients: Closable | undefined): void {
  started.clients = clients;
}

export function trackTmpDir(dir: string): void {
  started.tmpDir = dir;
}

/** Stops every runtime this run started and removes its temporary directory. */
async function cleanup(): Promise<void> {
  stopHttpLoad();
  started.clients?.close();
  const running = started.targets.splice(0);
  await Promise.allSettled(running.map((target) => withTimeout(target.dispose(), 10_000)));
  if (started.tmpDir !== undefined) await rm(started.tmpDir, { recursive: true, force: true }).catch(() => undefined);
  started.tmpDir = undefined;
}

export async function exitWith(code: number, message?: string): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => undefined);
  shuttingDown = true;
  if (message) console.error(message);
  await cleanup();
  process.exit(code);
}

/**
 * Interrupts and the watchdog end the run synchronously: Miniflare's own signal handler would
 * otherwise re-raise SIGINT and kill this process halfway through an asynchronous clean-up. The
 * runtimes started are killed by their process ids; Miniflare's exit hook tidies the rest.
 */
function abortNow(message: string): never {
  console.error(message);
  stopHttpLoad();
  started.clients?.close();
  for (const running of started.targets) {
    try {
      process.kill(running.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (started.tmpDir !== undefined) rmSync(started.tmpDir, { recursive: true, force: true });
  process.exit(2);
}

/** Interrupts, a rejection nobody handled and the watchdog all stop every runtime and exit 2. */
export function installGuards(command: string, watchdogMs: number): void {
  process.on('SIGINT', () => abortNow(`${command}: interrupted; stopped every runtime it started`));
  process.on('SIGTERM', () => abortNow(`${command}: terminated; stopped every runtime it started`));
  process.on('unhandledRejection', (error) => abortNow(`${command}: harness error: ${String((error as Error)?.stack ?? error)}`));
  setTimeout(() => abortNow(`${command}: watchdog: still running after ${watchdogMs / 60_000} minutes; aborted`), watchdogMs).unref();
}
