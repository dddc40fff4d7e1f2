/**
 * The workerd process that runs the Worker under `wrangler dev`, and its memory over a run.
 * wrangler starts two workerd processes: a proxy listening on the port it was given, and the one
 * running the code on a port of its own; the soak measures the second.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { median } from '../bench/stats.ts';

interface ProcessEntry {
  pid: number;
  ppid: number;
  name: string;
}

function processes(): ProcessEntry[] {
  const found: ProcessEntry[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
      found.push({ pid: Number(entry), ppid, name });
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

/** The workerd below this process that runs the Worker: not the proxy, which listens on `proxyPort`. */
export function workerProcess(proxyPort: number): number {
  const all = processes();
  const descendants = new Set([process.pid]);
  // Parents come before children in no guaranteed order: repeat until nothing is added.
  for (let grown = true; grown; ) {
    grown = false;
    for (const entry of all) {
      if (!descendants.has(entry.pid) && descendants.has(entry.ppid)) {
        descendants.add(entry.pid);
        grown = true;
      }
    }
  }
  const proxySocket = `entry=127.0.0.1:${proxyPort}`;
  const candidates = all.filter((entry) => {
    if (entry.name !== 'workerd' || !descendants.has(entry.pid)) return false;
    const args = readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8').split('\0');
    return !args.some((arg) => arg.endsWith(proxySocket));
  });
  if (candidates.length !== 1) throw new Error(`expected one workerd running the Worker, found ${candidates.length}`);
  return (candidates[0] as ProcessEntry).pid;
}

export function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

export interface RssSample {
  /** Seconds since the load started. */
  atS: number;
  mib: number;
}

/** Samples RSS once a second. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly pid: number;
  private readonly startedAt = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.pid = pid;
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }

  private sample(): void {
    try {
      this.samples.push({ atS: (performance.now() - this.startedAt) / 1000, mib: rssMiB(this.pid) });
    } catch {
      // The process is gone; the run fails on its own.
    }
  }

  /** The median of the samples taken from `fromS` to `toS`: one sample catches a GC mid-way. */
  medianBetween(fromS: number, toS: number): number {
    return median(this.samples.filter((sample) => sample.atS >= fromS && sample.atS <= toS).map((sample) => sample.mib));
  }

  peak(): number {
    return Math.max(...this.samples.map((sample) => sample.mib));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
