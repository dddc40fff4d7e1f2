/**
 * Where and with what a run was measured.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../local-worker.ts';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryMiB: number;
  kernel: string;
  versions: { node: string; workerd: string; wrangler: string; miniflare: string; autocannon: string };
  git: { commit: string | null; dirty: boolean };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The workerd Miniflare runs (its own dependency, which may differ from a top-level one). */
function workerdVersion(): string {
  try {
    const miniflare = createRequire(join(ROOT, 'package.json')).resolve('miniflare');
    return (createRequire(miniflare)('workerd') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown CPU';
  let kernel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // Not Linux; the run itself needs /proc and will say so.
  }
  const commit = git(['rev-parse', 'HEAD']);
  return {
    cpuModel,
    cores: availableParallelism(),
    totalMemoryMiB: Math.round(totalmem() / 1024 / 1024),
    kernel,
    versions: {
      node: process.version,
      workerd: workerdVersion(),
      wrangler: packageVersion('wrangler'),
      miniflare: packageVersion('miniflare'),
      autocannon: packageVersion('autocannon'),
    },
    git: { commit, dirty: commit !== null && (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '' },
  };
}
