/**
 * Each benchmark target (Switchyard or a reference Worker) runs in its own Miniflare instance, so
 * in its own workerd process, whose CPU time and memory are then that target's alone. Requests go
 * to a direct socket of the Worker: Miniflare's usual entry socket puts another worker in front
 * (it caps a bare "ok" Worker at ~4,000 requests/s here), and `wrangler dev` a proxy (~1,000).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { convertV4MiniflareOptions, Miniflare, NoOpLog, type V4WorkerOptions } from 'miniflare';
import type { Builds } from './build.ts';
import { sleep, trackTarget } from './lifecycle.ts';
import { PeakRss, workerdChildren } from './proc.ts';
import type { TargetName } from './scenarios.ts';
import { applySeed, type Seed } from './seed.ts';

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
  /** Opens the runtime's inspector (CPU profiles, `npm run bench:profile`) on this port. */
  inspectorPort?: number;
}

export interface Target {
  name: string;
  url: URL;
  pid: number;
  rss: PeakRss;
  mf: Miniflare;
  /** The last few warnings and errors the runtime printed (the Worker's info lines are discarded). */
  recentProblems: string[];
  /** The last info line the Worker logged (the rest are discarded): how big a request's log line is. */
  lastInfoLine(): string | undefined;
  dispose(): Promise<void>;
}

const RECENT_PROBLEMS = 20;

/** Starts one target; returns once its direct socket answers. */
export async function startTarget(spec: TargetSpec): Promise<Target> {
  await mkdir(spec.stateDir, { recursive: true });
  const before = workerdChildren();
  const recentProblems: string[] = [];
  let lastInfoLine: string | undefined;
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      log: new NoOpLog(),
      logRequests: false,
      // Off, as it is with X_LOCAL_OBSERVABILITY=false: traces would cost ~300 µs per request here and not in production.
      unsafeObservability: false,
      ...(spec.inspectorPort === undefined ? {} : { inspectorPort: spec.inspectorPort }),
      host: '127.0.0.1',
      port: 0,
      resourcePersistencePath: spec.stateDir,
      // The Worker's one JSON line per request is written by workerd (that cost is in its figures) and discarded here.
      handleStructuredLogs: (log) => {
        if (log.level === 'log' || log.level === 'info' || log.level === 'debug') {
          lastInfoLine = log.message;
          return;
        }
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
      lastInfoLine: () => lastInfoLine,
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

// Production refuses placeholder origins (src/env.ts); never contacted.
const CORS_ORIGIN = 'https://app.switchyard.dev';

/**
 * Where the runtimes keep D1 and Durable Object state: in memory (/dev/shm) when the machine has
 * it. On this VM's disk every Durable Object commit waits for a flush that made the fan-out figures
 * swing from 0.5 to 0.8 between rounds; production storage is not a local disk on the request path.
 * `BENCH_STATE_DIR` overrides it.
 */
export async function stateRoot(): Promise<string> {
  if (process.env.BENCH_STATE_DIR) return process.env.BENCH_STATE_DIR;
  try {
    await access('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export interface RuntimeSecrets {
  sessionJwtSecret: string;
  storageEncryptionSecret: string;
}

/** A run's own secrets: random, and kept by a harness that must sign what the Worker checks (connect tokens). */
export function newSecrets(): RuntimeSecrets {
  return {
    sessionJwtSecret: randomBytes(32).toString('base64url'),
    storageEncryptionSecret: randomBytes(32).toString('base64url'),
  };
}

export type SwitchyardWorker = TargetSpec['worker'] & Pick<V4WorkerOptions, 'analyticsEngineDatasets' | 'r2Buckets' | 'workflows'>;

/** Switchyard as it ships: production settings, the run's secrets, every binding wrangler.toml gives it. */
export function switchyardWorker(secrets: RuntimeSecrets = newSecrets()): SwitchyardWorker {
  return {
    d1Databases: { DB: 'switchyard-bench' },
    durableObjects: {
      RATE_LIMITER: { className: 'RateLimiter', useSQLite: true },
      SESSION_ROOM: { className: 'SessionRoom', useSQLite: true },
    },
    // As wrangler.toml has it: each write's dispatch runs after its response, so its cost is measured.
    queueProducers: { WEBHOOK_QUEUE: 'switchyard-webhooks-bench' },
    queueConsumers: { 'switchyard-webhooks-bench': { maxBatchSize: 10, maxBatchTimeout: 1 } },
    // As wrangler.toml has it: every request writes its metric, so that cost is measured too (the
    // local dataset takes each point and keeps none; Cloudflare's ingestion happens off the Worker).
    analyticsEngineDatasets: { METRICS: { dataset: 'switchyard_metrics_bench' } },
    // Organisation exports (their bucket and Workflow: npm run export:scale measures them) and erasure.
    r2Buckets: { EXPORTS: 'switchyard-exports-bench' },
    workflows: {
      EXPORT_WORKFLOW: { name: 'switchyard-export-bench', className: 'OrganizationExportWorkflow' },
      ERASURE: { name: 'switchyard-erasure-bench', className: 'ErasureWorkflow' },
    },
    bindings: {
      ENVIRONMENT: 'production',
      CORS_ORIGINS: CORS_ORIGIN,
      LOG_LEVEL: 'info',
      SESSION_JWT_SECRET: secrets.sessionJwtSecret,
      STORAGE_ENCRYPTION_SECRET: secrets.storageEncryptionSecret,
    },
  };
}

/**
 * Every target of a run. `logLineBytes` is the size of Switchyard's request log line, measured
 * once it runs: /health's reference writes a line of that size.
 */
export function targetSpecs(builds: Builds, seed: Seed, dir: string, logLineBytes: number): Record<TargetName, TargetSpec> {
  const common = (name: TargetName, scriptPath: string) => ({
    name,
    scriptPath,
    compatibilityDate: builds.compatibilityDate,
    stateDir: stateDirFor(dir, name),
  });
  const bareHono = builds.references['bare-hono'];
  return {
    switchyard: { ...common('switchyard', builds.switchyard), worker: switchyardWorker() },
    // The same Worker in a process of its own for the fan-out, as its reference has one: after the
    // HTTP scenarios a shared process spent ~15 % more CPU per frame (27 vs 23 µs, measured).
    'switchyard-realtime': { ...common('switchyard-realtime', builds.switchyard), worker: switchyardWorker() },
    'bare-hono': { ...common('bare-hono', bareHono), worker: { d1Databases: { DB: 'bare-hono-bench' }, bindings: { ORG_ID: seed.orgId } } },
    'bare-hono-batch': {
      ...common('bare-hono-batch', bareHono),
      worker: { d1Databases: { DB: 'bare-hono-batch-bench' }, bindings: { ORG_ID: seed.orgId, CREATE_AS: 'batch' } },
    },
    'bare-hono-log': {
      ...common('bare-hono-log', bareHono),
      worker: { bindings: { ORG_ID: seed.orgId, LOG_LINE_BYTES: String(logLineBytes) } },
    },
    'bare-ok': { ...common('bare-ok', builds.references['bare-ok']), worker: {} },
    'bare-broadcast': {
      ...common('bare-broadcast', builds.references['bare-broadcast']),
      worker: { durableObjects: { ROOM: { className: 'BroadcastRoom', useSQLite: true } } },
    },
  };
}

/** The size of Switchyard's log line for `GET /health` (the runtime's output reaches the harness a moment later). */
async function healthLogLineBytes(switchyard: Target): Promise<number> {
  const health = await fetch(new URL('/health', switchyard.url));
  await health.arrayBuffer();
  for (let waited = 0; waited < 5000; waited += 50) {
    const line = switchyard.lastInfoLine();
    if (line?.includes('"route":"/health"')) return Buffer.byteLength(line);
    await sleep(50);
  }
  throw new Error('Switchyard logged no request line for GET /health within 5 s: the log-line reference cannot be sized');
}

/**
 * Starts the targets a run needs, one at a time (so each new workerd process is known to belong
 * to the instance just started), seeds their D1 databases and checks Switchyard is ready.
 */
export async function startTargets(
  needed: ReadonlySet<TargetName>,
  plan: (logLineBytes: number) => Record<TargetName, TargetSpec>,
  seed: Seed,
  log: (message: string) => void,
): Promise<Map<TargetName, Target>> {
  const running = new Map<TargetName, Target>();
  const start = async (name: TargetName, spec: TargetSpec) => {
    const started = await startTarget(spec);
    trackTarget(started);
    running.set(name, started);
    log(`${name} runs in workerd pid ${started.pid} at ${started.url.origin}`);
    if (spec.worker.d1Databases) await applySeed((await started.mf.getD1Database('DB')) as unknown as D1Database, seed);
    return started;
  };
  const switchyardFirst = plan(0);
  let logLineBytes = 0;
  for (const name of ['switchyard', 'switchyard-realtime'] as const) {
    if (!needed.has(name)) continue;
    const started = await start(name, switchyardFirst[name]);
    const ready = await fetch(new URL('/ready', started.url));
    if (ready.status !== 200) throw new Error(`${name}'s /ready answered ${ready.status}: ${await ready.text()}`);
    if (name === 'switchyard' && needed.has('bare-hono-log')) logLineBytes = await healthLogLineBytes(started);
  }
  const references = plan(logLineBytes);
  for (const name of ['bare-hono', 'bare-hono-batch', 'bare-hono-log', 'bare-ok', 'bare-broadcast'] as const) {
    if (needed.has(name)) await start(name, references[name]);
  }
  return running;
}
