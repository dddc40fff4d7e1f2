/**
 * Each benchmark target (Switchyard or a reference Worker) runs in its own Miniflare instance, so
 * in its own workerd process, whose CPU time and memory are then that target's alone. Requests go
 * to a direct socket of the Worker: Miniflare's usual entry socket puts another worker in front
 * (it caps a bare "ok" Worker at ~4,000 requests/s here), and `wrangler dev` a proxy (~1,000).
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { convertV4MiniflareOptions, Miniflare, NoOpLog, type V4WorkerOptions } from 'miniflare';
import { PeakRss, workerdChildren } from './proc.ts';

export interface TargetSpec {
  /** Worker name, also the label in progress lines. */
  name: string;
  /** The bundled Worker (wrangler's output). */
  scriptPath: string;
  compatibilityDate: string;
  /** Bindings besides the source: d1Databases, durableObjects, queues, bindings (vars). */
  worker: Pick<V4WorkerOptions, 'd1Databases' | 'durableObjects' | 'queueProducers' | 'queueConsumers' | 'bindings'>;
  /** Where this target's D1 and Durable Object state live. */
  stateDir: string;
}

export interface Target {
  name: string;
  url: URL;
  pid: number;
  rss: PeakRss;
  mf: Miniflare;
  /** The last few warnings and errors the runtime printed (the Worker's info lines are discarded). */
  recentProblems: string[];
  dispose(): Promise<void>;
}

const RECENT_PROBLEMS = 20;

/** Starts one target; returns once its direct socket answers. */
export async function startTarget(spec: TargetSpec): Promise<Target> {
  await mkdir(spec.stateDir, { recursive: true });
  const before = workerdChildren();
  const recentProblems: string[] = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      log: new NoOpLog(),
      logRequests: false,
      // Off, as it is with X_LOCAL_OBSERVABILITY=false: traces would cost ~300 µs per request here and not in production.
      unsafeObservability: false,
      host: '127.0.0.1',
      port: 0,
      resourcePersistencePath: spec.stateDir,
      // The Worker's one JSON line per request is written by workerd (that cost is in its figures) and discarded here.
      handleStructuredLogs: (log) => {
        if (log.level === 'log' || log.level === 'info' || log.level === 'debug') return;
        recentProblems.push(`[${log.level}] ${log.message.slice(0, 500)}`);
        if (recentProblems.length > RECENT_PROBLEMS) recentProblems.shift();
      },
      name: spec.name,
      modules: true,
      scriptPath: spec.scriptPath,
      modulesRoot: dirname(spec.scriptPath),
      compatibilityDate: spec.compatibilityDate,
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
      ...spec.worker,
    }),
  );
  try {
    await mf.ready;
    const url = await mf.unsafeGetDirectURL(spec.name);
    const started = [...workerdChildren()].filter((pid) => !before.has(pid));
    if (started.length !== 1) throw new Error(`expected one new workerd process for ${spec.name}, found ${started.length}`);
    const pid = started[0] as number;
    return {
      name: spec.name,
      url,
      pid,
      rss: new PeakRss(pid),
      mf,
      recentProblems,
      dispose: () => mf.dispose(),
    };
  } catch (error) {
    await mf.dispose().catch(() => undefined);
    throw error;
  }
}

/** A per-target state directory under the run's temporary directory. */
export function stateDirFor(tmpDir: string, name: string): string {
  return join(tmpDir, 'state', name);
}
