/**
 * What the Worker's own output (`wrangler dev`'s, written to a file) says about a run: the faults
 * the chaos build injected, the breakers that opened, and the request lines of every 500, whose
 * error is what a fix needs. The Worker writes one JSON object per line; wrangler may wrap it in
 * colour codes and an `[ERROR]` badge.
 */
import { readFile } from 'node:fs/promises';

export interface WorkerLog {
  faults: Record<string, number>;
  faultsInjected: number;
  /** `dependency from→to` transitions of the circuit breakers. */
  breakerTransitions: Record<string, number>;
  /** Request lines of 500 responses (the error field included), at most {@link MAX_LINES}. */
  internalErrorLines: string[];
  /** Lines the Worker logged at error level (500s included). */
  errorLines: number;
}

const MAX_LINES = 20;

function objectIn(line: string): Record<string, unknown> | undefined {
  const start = line.indexOf('{"level":');
  const end = line.lastIndexOf('}');
  if (start === -1 || end < start) return undefined;
  try {
    return JSON.parse(line.slice(start, end + 1)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function readWorkerLog(path: string): Promise<WorkerLog> {
  const log: WorkerLog = { faults: {}, faultsInjected: 0, breakerTransitions: {}, internalErrorLines: [], errorLines: 0 };
  const text = await readFile(path, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const entry = objectIn(line);
    if (entry === undefined) continue;
    if (entry.level === 'error') log.errorLines += 1;
    if (entry.msg === 'chaos: injected a fault') {
      const key = `${String(entry.dependency)} ${String(entry.fault)}`;
      log.faults[key] = (log.faults[key] ?? 0) + 1;
      log.faultsInjected += 1;
    } else if (entry.message === 'circuit state changed') {
      // A room's breaker is labelled with its session: counted per kind of dependency.
      const key = `${String(entry.dependency).split(' ')[0]} ${String(entry.from)}→${String(entry.to)}`;
      log.breakerTransitions[key] = (log.breakerTransitions[key] ?? 0) + 1;
    } else if (entry.msg === 'request' && entry.status === 500 && log.internalErrorLines.length < MAX_LINES) {
      log.internalErrorLines.push(JSON.stringify(entry));
    }
  }
  return log;
}
