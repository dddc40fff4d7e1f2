/**
 * What the harness reads about a runtime process from /proc (Linux only): its CPU time, its peak
 * resident memory, and which workerd processes are children of this Node process.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** The fields of /proc/<pid>/stat after the command name; index 0 is field 3 (state). */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU time of the whole process (all threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const fields = statFields(pid);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / ticksPerSecond();
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

/** Resident memory of the process now (VmRSS), in KiB. */
export function residentKiB(pid: number): number {
  return statusKiB(pid, 'VmRSS');
}

/** Pids of the workerd processes whose parent is this process. */
export function workerdChildren(): Set<number> {
  const found = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      if (name === 'workerd' && Number(statFields(Number(entry))[1]) === process.pid) found.add(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

/**
 * Tracks a process's peak RSS over an interval: resets the kernel's high-water mark (VmHWM) through
 * clear_refs when allowed, and otherwise samples VmRSS every 100 ms.
 */
export class PeakRss {
  private readonly pid: number;
  private sampler: NodeJS.Timeout | undefined;
  private sampledKiB = 0;
  private useHwm = true;

  constructor(pid: number) {
    this.pid = pid;
  }

  start(): void {
    if (this.useHwm) {
      try {
        writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
        return;
      } catch {
        this.useHwm = false;
      }
    }
    this.sampledKiB = statusKiB(this.pid, 'VmRSS');
    this.sampler = setInterval(() => {
      try {
        this.sampledKiB = Math.max(this.sampledKiB, statusKiB(this.pid, 'VmRSS'));
      } catch {
        // The process is gone; the run will fail on its own.
      }
    }, 100);
    this.sampler.unref();
  }

  /** Peak RSS since start(), in MiB. */
  stop(): number {
    if (this.sampler !== undefined) {
      clearInterval(this.sampler);
      this.sampler = undefined;
      return Math.max(this.sampledKiB, statusKiB(this.pid, 'VmRSS')) / 1024;
    }
    return statusKiB(this.pid, 'VmHWM') / 1024;
  }

  get method(): 'VmHWM' | 'VmRSS samples' {
    return this.useHwm ? 'VmHWM' : 'VmRSS samples';
  }
}

/** CPU time the whole machine spent busy (all cores, every process), in microseconds. */
export function machineBusyMicros(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: everything but idle and iowait.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1_000_000) / ticksPerSecond();
}

/** CPU time of all of `pids` (processes that are gone count 0). */
function totalCpuMicros(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuMicros(pid);
    } catch {
      // Gone; its time no longer shows in /proc/stat either way.
    }
  }
  return total;
}

export interface RunMeasurement {
  /** CPU time of the target's runtime process. */
  cpuMicros: number;
  peakRssMiB: number;
  /** This process (load generator, WebSocket clients, Miniflare's log handling), % of one core. */
  clientCpuPercent: number;
  /** Every process that is neither this one nor a runtime it started, % of one core: noise. */
  otherCpuPercent: number;
  wallMs: number;
}

/**
 * Measures one run of a target process: its CPU time and peak RSS, this (client) process's CPU,
 * and what the rest of the machine did meanwhile (`pids` are every runtime this harness started).
 */
export class RunMeter {
  private readonly pid: number;
  private readonly rss: PeakRss;
  private readonly pids: readonly number[];
  private cpuStart = 0;
  private oursStart = 0;
  private machineStart = 0;
  private clientStart: NodeJS.CpuUsage = { user: 0, system: 0 };
  private wallStart = 0;

  constructor(pid: number, rss: PeakRss, pids: readonly number[]) {
    this.pid = pid;
    this.rss = rss;
    this.pids = pids;
  }

  private runtimesMicros(): number {
    return totalCpuMicros(this.pids);
  }

  start(): void {
    this.rss.start();
    this.wallStart = performance.now();
    this.clientStart = process.cpuUsage();
    this.cpuStart = cpuMicros(this.pid);
    this.oursStart = this.runtimesMicros();
    this.machineStart = machineBusyMicros();
  }

  stop(): RunMeasurement {
    const machine = machineBusyMicros() - this.machineStart;
    const runtimes = this.runtimesMicros() - this.oursStart;
    const cpu = cpuMicros(this.pid) - this.cpuStart;
    const client = process.cpuUsage(this.clientStart);
    const wallMs = performance.now() - this.wallStart;
    const clientMicros = client.user + client.system;
    const percent = (micros: number) => (micros / 1000 / wallMs) * 100;
    return {
      cpuMicros: cpu,
      peakRssMiB: this.rss.stop(),
      clientCpuPercent: percent(clientMicros),
      otherCpuPercent: Math.max(0, percent(machine - runtimes - clientMicros)),
      wallMs,
    };
  }
}

/** What every process but this one and `pids` used over the next `ms`, in % of one core. */
export async function otherCpuPercent(pids: readonly number[], ms: number): Promise<number> {
  const wallStart = performance.now();
  const clientStart = process.cpuUsage();
  const runtimesStart = totalCpuMicros(pids);
  const machineStart = machineBusyMicros();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const machine = machineBusyMicros() - machineStart;
  const runtimes = totalCpuMicros(pids) - runtimesStart;
  const client = process.cpuUsage(clientStart);
  const wallMs = performance.now() - wallStart;
  return Math.max(0, ((machine - runtimes - client.user - client.system) / 1000 / wallMs) * 100);
}
