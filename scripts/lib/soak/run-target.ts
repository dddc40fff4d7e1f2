/**
 * One soak run against one target: a fresh local D1 (its own --persist-to), the migrations, an
 * organisation with limits the run cannot reach, `wrangler dev` (top-level config for `plain`,
 * `[env.chaos]` for `chaos`), then the subscribers, the workload, a drain, the verification, and
 * the figures.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createSwitchyardClient } from '../../../generated/client.ts';
import { FAULT_RATE_VARIABLE, SEED_VARIABLE } from '../../../src/chaos/faults.ts';
import { SCOPES } from '../../../src/schemas/scopes.ts';
import { cpuMicros } from '../bench/proc.ts';
import { freePort, type LocalWorker, migrateLocal, startLocalWorker, WRANGLER_ENV } from '../local-worker.ts';
import { bootstrapOrganization } from '../org-bootstrap.ts';
import { Recorder, type RouteFigures, sleep, withRetries } from './http.ts';
import { isolateHeapMiB } from './isolate-heap.ts';
import type { SoakOptions, TargetName } from './options.ts';
import { SessionLedger, Subscriber } from './subscribers.ts';
import { type Check, checksFor, type DeviceTally, type Growth, type MessageTally, tallyDevices, tallyMessages } from './verify.ts';
import { readWorkerLog, type WorkerLog } from './worker-log.ts';
import { type RssSample, RssSampler, workerProcess } from './worker-process.ts';
import { listAllDevices, newWorkloadState, runWorkload, type WorkloadContext, type WorkloadState } from './workload.ts';

export interface TargetResult {
  target: TargetName;
  environment: string;
  faultRate: number | null;
  seed: number | null;
  loadSeconds: number;
  warmupSeconds: number;
  requests: RouteFigures;
  routes: Record<string, RouteFigures>;
  requestsPerSecond: number;
  workerCpuPercent: number;
  /** workerd's RSS: reported, not judged (it climbs for minutes under wrangler dev whatever the Worker). */
  rss: Growth & { peakMiB: number; samples: RssSample[] };
  /** The Worker isolate's JS heap after a full GC: judged. */
  heap: Growth;
  subscribers: number;
  sessions: number;
  devices: DeviceTally;
  messages: MessageTally;
  gaveUp: Record<string, number>;
  replays: Record<string, number>;
  keyedUpdates: boolean;
  serverErrors: Recorder['serverErrors'];
  unexpected: WorkloadState['unexpected'];
  worker: WorkerLog;
  checks: Check[];
}

/** Unmeasured for RSS: the first share of the load (JIT, caches, SQLite pages warm up), at most this long. */
const MAX_WARMUP_S = 15;
const WARMUP_SHARE = 0.15;
/** RSS at each end is the median over this many seconds of samples. */
const RSS_WINDOW_S = 5;
/** A subscriber is dropped (and resumes with last_seq) this often. */
const CHURN_EVERY_MS = 1_000;
/** After the load, how long subscribers get to catch up on every acknowledged message. */
const DRAIN_TIMEOUT_MS = 15_000;
const CONNECT_BATCH = 20;
const TOKEN_CONCURRENCY = 10;
/** Room for sockets a reconnect briefly overlaps with the one it replaces. */
const PARTICIPANT_HEADROOM = 20;

function growth(startMiB: number, endMiB: number): Growth {
  return { startMiB, endMiB, growthPercent: ((endMiB - startMiB) / startMiB) * 100 };
}

/**
 * Runs `work` with wrangler reading `[env.<environment>]` (top level when undefined): wrangler takes
 * the environment from CLOUDFLARE_ENV when no --env is given, and local-worker.ts hands every
 * wrangler it starts WRANGLER_ENV, which takes no --env option of its own.
 */
async function inEnvironment<T>(environment: string | undefined, work: () => Promise<T>): Promise<T> {
  const shared: NodeJS.ProcessEnv = WRANGLER_ENV;
  const previous = shared.CLOUDFLARE_ENV;
  const select = (value: string | undefined) => {
    if (value === undefined) delete shared.CLOUDFLARE_ENV;
    else shared.CLOUDFLARE_ENV = value;
  };
  select(environment);
  try {
    return await work();
  } finally {
    select(previous);
  }
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function inParallel<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await task(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export interface TargetSetup {
  target: TargetName;
  options: SoakOptions;
  /** This target's own directory under the run's temporary one. */
  dir: string;
  seed: number;
  keyedUpdates: boolean;
  log: (message: string) => void;
  /** Registers the running Worker so an interrupt can stop it. */
  onWorker: (worker: LocalWorker | undefined) => void;
}

interface Session {
  id: string;
  tokens: string[];
}

async function openSessions(context: WorkloadContext, options: SoakOptions): Promise<Session[]> {
  const perSession = Math.ceil(options.subscribers / options.sessions);
  const sessions = await inParallel(Array.from({ length: options.sessions }), options.sessions, async (_, index) => {
    const outcome = await withRetries(context.recorder, 'POST /v1/sessions', (signal) =>
      context.api.POST('/v1/sessions', {
        body: { max_connections: perSession + PARTICIPANT_HEADROOM, ttl_seconds: 3600 },
        headers: { 'Idempotency-Key': `${context.runId}-room-${index}` },
        signal,
      }),
    );
    if (outcome.kind === 'gave-up' || outcome.result.data === undefined) throw new Error(`could not open session ${index}`);
    return { id: outcome.result.data.id, tokens: [] as string[] };
  });
  const seats = Array.from({ length: options.subscribers }, (_, index) => index);
  await inParallel(seats, TOKEN_CONCURRENCY, async (index) => {
    const session = sessions[index % sessions.length] as Session;
    const outcome = await withRetries(context.recorder, 'POST /v1/sessions/{id}/tokens', (signal) =>
      context.api.POST('/v1/sessions/{id}/tokens', {
        params: { path: { id: session.id } },
        body: { participant: `client:subscriber-${index}`, ttl_seconds: 900 },
        headers: { 'Idempotency-Key': `${context.runId}-seat-${index}` },
        signal,
      }),
    );
    if (outcome.kind === 'gave-up' || outcome.result.data === undefined) throw new Error(`could not mint a token for subscriber ${index}`);
    session.tokens.push(outcome.result.data.token);
  });
  return sessions;
}

async function subscribeAll(baseUrl: string, sessions: Session[], ledgers: SessionLedger[]): Promise<Subscriber[]> {
  const subscribers = sessions.flatMap((session, sessionIndex) =>
    session.tokens.map(
      (token) => new Subscriber(sessionIndex, { baseUrl, sessionId: session.id, token }, ledgers[sessionIndex] as SessionLedger),
    ),
  );
  for (let first = 0; first < subscribers.length; first += CONNECT_BATCH) {
    await Promise.all(subscribers.slice(first, first + CONNECT_BATCH).map((subscriber) => subscriber.start()));
  }
  return subscribers;
}

/** Waits until every subscriber still subscribed has the last acknowledged message of its session. */
async function drain(subscribers: Subscriber[], state: WorkloadState): Promise<void> {
  const lastAcknowledged = new Map<number, number>();
  for (const publish of state.acknowledgedPublishes) {
    lastAcknowledged.set(publish.sessionIndex, Math.max(lastAcknowledged.get(publish.sessionIndex) ?? 0, publish.seq));
  }
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  const caughtUp = () =>
    subscribers.every((subscriber) => subscriber.gaveUp || subscriber.lastSeq >= (lastAcknowledged.get(subscriber.sessionIndex) ?? 0));
  while (!caughtUp() && performance.now() < deadline) await sleep(100);
}

export async function runTarget(setup: TargetSetup): Promise<TargetResult> {
  const { target, options, dir, log } = setup;
  const environment = target === 'chaos' ? 'chaos' : undefined;
  const persistTo = join(dir, 'state');
  const logPath = join(dir, 'worker.log');
  await mkdir(dir, { recursive: true });
  const vars: Record<string, string> = { LOG_LEVEL: 'warn' };
  if (target === 'chaos') {
    vars[FAULT_RATE_VARIABLE] = String(options.faultRate);
    vars[SEED_VARIABLE] = String(setup.seed);
  }
  const port = await freePort();
  const { org, worker } = await inEnvironment(environment, async () => {
    await migrateLocal(persistTo);
    const created = await bootstrapOrganization({
      name: `Soak ${target}`,
      scopes: [...SCOPES],
      plan: 'unlimited',
      mode: 'test',
      persistTo,
    });
    const fd = openSync(logPath, 'w');
    try {
      return { org: created, worker: await startLocalWorker({ port, persistTo, quiet: true, log: fd, vars }) };
    } finally {
      closeSync(fd);
    }
  });
  setup.onWorker(worker);
  const subscribers: Subscriber[] = [];
  try {
    const pid = workerProcess(port);
    const recorder = new Recorder();
    const state = newWorkloadState();
    let running = true;
    const context: WorkloadContext = {
      api: createSwitchyardClient({ baseUrl: worker.url, apiKey: org.apiKey }),
      recorder,
      state,
      runId: `soak-${target}-${randomUUID().slice(0, 8)}`,
      keyedUpdates: setup.keyedUpdates,
      running: () => running,
    };
    const sessions = await openSessions(context, options);
    const ledgers = sessions.map(() => new SessionLedger());
    subscribers.push(...(await subscribeAll(worker.url, sessions, ledgers)));
    log(`${subscribers.length} subscribers on ${sessions.length} sessions; load for ${options.duration} s`);

    const warmupSeconds = Math.min(MAX_WARMUP_S, options.duration * WARMUP_SHARE);
    const rss = new RssSampler(pid);
    const cpuStart = cpuMicros(pid);
    const setupRequests = recorder.figures().total.requests;
    const loadStart = performance.now();
    const heapAtWarmup = sleep(warmupSeconds * 1000).then(() => isolateHeapMiB(pid));
    // Awaited once the load is over; a failure before then must not count as an unhandled rejection.
    heapAtWarmup.catch(() => undefined);
    const churn = setInterval(() => subscribers[Math.floor(Math.random() * subscribers.length)]?.drop(), CHURN_EVERY_MS);
    const stop = setTimeout(() => {
      running = false;
    }, options.duration * 1000);
    await runWorkload(
      context,
      options.clients,
      sessions.map((session) => session.id),
    );
    clearTimeout(stop);
    clearInterval(churn);
    if (!existsSync(`/proc/${pid}`)) {
      throw new Error(
        'the workerd running the Worker exited during the load: wrangler dev restarts it when a source file changes, so run the soak while nobody edits the tree',
      );
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const workerCpuPercent = ((cpuMicros(pid) - cpuStart) / 1000 / (loadSeconds * 1000)) * 100;
    rss.stop();
    const heap = growth(await heapAtWarmup, await isolateHeapMiB(pid));
    const rssGrowth = growth(
      rss.medianBetween(warmupSeconds, warmupSeconds + RSS_WINDOW_S),
      rss.medianBetween(loadSeconds - RSS_WINDOW_S, loadSeconds),
    );
    const loadRequests = recorder.figures().total.requests - setupRequests;
    log(`load done: ${loadRequests} requests in ${loadSeconds.toFixed(0)} s; draining and verifying`);

    await drain(subscribers, state);
    const devices = tallyDevices(state, await listAllDevices(context));
    const messages = tallyMessages(state, subscribers, ledgers);
    for (const subscriber of subscribers) subscriber.close();
    await worker.stop();
    setup.onWorker(undefined);
    const workerLog = await readWorkerLog(logPath);
    // Kept beside the report (git ignores *.log): the stack of every 5xx is in it.
    await mkdir(options.outDir, { recursive: true });
    await copyFile(logPath, join(options.outDir, `${target}-worker.log`));
    const figures = recorder.figures();
    return {
      target,
      environment: environment ?? 'top level',
      faultRate: target === 'chaos' ? options.faultRate : null,
      seed: target === 'chaos' ? setup.seed : null,
      loadSeconds,
      warmupSeconds,
      // Every request, setup and verification included (each under its own route); the rate is the load's.
      requests: figures.total,
      routes: figures.routes,
      requestsPerSecond: loadRequests / loadSeconds,
      workerCpuPercent,
      rss: { ...rssGrowth, peakMiB: rss.peak(), samples: rss.samples },
      heap,
      subscribers: subscribers.length,
      sessions: sessions.length,
      devices,
      messages,
      gaveUp: state.gaveUp,
      replays: state.replays,
      keyedUpdates: setup.keyedUpdates,
      serverErrors: recorder.serverErrors,
      unexpected: state.unexpected,
      worker: workerLog,
      checks: checksFor({ target, recorder, state, devices, messages, heap, faultsInjected: workerLog.faultsInjected }),
    };
  } finally {
    for (const subscriber of subscribers) subscriber.close();
    await worker.stop();
    setup.onWorker(undefined);
  }
}
