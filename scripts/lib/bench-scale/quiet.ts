/**
 * Waiting for the machine, bounded: other work on 2 cores moves every figure, and a runtime still
 * busy with the tail of what came before (an alarm writing presence events, a WAL checkpoint) moves
 * the next one's. Both waits give up after a while, so the run stays bounded; noisy figures are
 * flagged in the report instead.
 */
import { cpuMicros, otherCpuPercent } from '../bench/proc.ts';

/** A run during which other processes used more than this much of a core is flagged as noisy. */
export const NOISY_PERCENT = 25;
const QUIET_WAIT_MS = 10_000;
let quietWaitLeftMs = 60_000;

/** How long the run may wait for a quiet machine in all (a smoke run waits less). */
export function setQuietWaitBudget(ms: number): void {
  quietWaitLeftMs = ms;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (at most 10 s each time, and the run's budget in all: 60 s by default) until other processes use less than NOISY_PERCENT of a core. */
export async function awaitQuietMachine(runtimePids: readonly number[], log: (message: string) => void): Promise<void> {
  const started = performance.now();
  const limit = Math.min(QUIET_WAIT_MS, quietWaitLeftMs);
  let other = await otherCpuPercent(runtimePids, 300);
  if (other > NOISY_PERCENT && limit > 0)
    log(`other processes use ${other.toFixed(0)}% of a core; waiting up to ${Math.round(limit / 1000)} s`);
  while (other > NOISY_PERCENT && performance.now() - started < limit) other = await otherCpuPercent(runtimePids, 500);
  quietWaitLeftMs = Math.max(0, quietWaitLeftMs - (performance.now() - started));
}

/** Waits (at most `maxMs`) until the runtime process uses under 5 % of a core over 300 ms. */
export async function awaitIdleRuntime(pid: number, maxMs = 10_000): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < maxMs) {
    const before = cpuMicros(pid);
    await sleep(300);
    if ((cpuMicros(pid) - before) / 1000 / 300 < 0.05) return;
  }
}
