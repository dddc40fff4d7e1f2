/**
 * `npm run export:scale -- [--scale 1|0.1] [--sessions N]`: an organisation export at the issue's
 * scale (100,000 devices and 1,000,000 session messages at `--scale 1`), on the production build in
 * its own workerd process (as `npm run bench:scale` runs it), seeded the bench-scale way: devices by
 * recursive-CTE INSERT … SELECT, each session's history written into its room's SQLite file while
 * the runtime is stopped (scripts/lib/bench-scale/seed-*.ts).
 *
 * It asks for the export through the API and waits for it, sampling the workerd process's CPU
 * time (user + system, from /proc) every few milliseconds meanwhile. The local Workflows engine
 * logs each step attempt's start and end in its own SQLite storage (its `states` table); read after
 * the run, those times give each step's wall time, and the CPU samples between them its CPU. That
 * CPU is the whole process's: the Worker's, and local D1's and the rooms' SQLite work, which in
 * production are not the Worker's own CPU, so it overstates a step's. Then it downloads the archive,
 * checks its size and that `tar -t` lists every part, and prints (and writes to bench/results/) the
 * figures.
 *
 * Not part of `npm test`: it takes minutes. Linux only (/proc).
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createSwitchyardClient } from '../generated/client.ts';
import { EXPORT_RESOURCES, type ExportResource } from '../src/schemas/organization-exports.ts';
import { buildEnvironment, SHIPPED_ENV, shippedCompatibilityDate } from './lib/bench/build.ts';
import { exitWith, installGuards, trackTmpDir } from './lib/bench/lifecycle.ts';
import { machineInfo } from './lib/bench/machine.ts';
import { cpuMicros } from './lib/bench/proc.ts';
import { applySeed, createSeed } from './lib/bench/seed.ts';
import { assertReady, d1Of, newSecrets, runningSwitchyard, stateRoot, switchyardSpec } from './lib/bench-scale/runtime.ts';
import { seedRoomHistories } from './lib/bench-scale/seed-history.ts';
import { insertDevices } from './lib/bench-scale/seed-rows.ts';
import { ROOT } from './lib/local-worker.ts';

/** Often enough to see most parts apart (a part takes tens of milliseconds here). */
function log(message: string): void {
  console.log(`export:scale: ${message}`);
}

/** How often the workerd process's CPU time is sampled while the export runs. */
const SAMPLE_MS = 5;
/** The local engine's events (miniflare's workflows engine): an attempt of a step began, succeeded. */
const ATTEMPT_START = 10;
const ATTEMPT_SUCCESS = 11;

interface StepTiming {
  name: string;
  startMs: number;
  endMs: number;
}

/** Every step attempt that succeeded, from the engine's log in its Durable Object's SQLite file under `stateDir`. */
async function stepTimings(stateDir: string): Promise<StepTiming[]> {
  const { DatabaseSync } = await import('node:sqlite');
  const timings: StepTiming[] = [];
  // Wherever the engine keeps it (miniflare puts Workflows' storage beside the Durable Objects').
  const files = (await readdir(stateDir, { recursive: true })).filter(
    (name) => name.endsWith('.sqlite') && !name.endsWith('metadata.sqlite'),
  );
  for (const file of files) {
    const db = new DatabaseSync(join(stateDir, file), { readOnly: true });
    try {
      const hasStates = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'states'").get();
      if (!hasStates) continue;
      const rows = db
        .prepare('SELECT event, target, timestamp FROM states WHERE event IN (?, ?) ORDER BY id')
        .all(ATTEMPT_START, ATTEMPT_SUCCESS) as Array<{ event: number; target: string; timestamp: string }>;
      const started = new Map<string, number>();
      for (const row of rows) {
        const at = Date.parse(`${row.timestamp.replace(' ', 'T')}Z`);
        if (row.event === ATTEMPT_START) started.set(row.target, at);
        else timings.push({ name: row.target, startMs: started.get(row.target) ?? at, endMs: at });
      }
    } finally {
      db.close();
    }
  }
  return timings;
}

/** The process's CPU time (µs) at `at`, interpolated between the samples around it. */
function cpuAt(samples: ReadonlyArray<{ at: number; cpu: number }>, at: number): number {
  let low = 0;
  let high = samples.length - 1;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if ((samples[middle]?.at ?? 0) <= at) low = middle;
    else high = middle;
  }
  const a = samples[low] ?? { at, cpu: 0 };
  const b = samples[high] ?? a;
  return b.at === a.at ? a.cpu : a.cpu + ((b.cpu - a.cpu) * (at - a.at)) / (b.at - a.at);
}

const quantile = (values: number[], q: number) =>
  [...values].sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, sessions: { type: 'string', default: '100' } } });
  const scale = Number(values.scale);
  const sessionCount = Number(values.sessions);
  if (!(scale > 0 && scale <= 1) || !(sessionCount >= 1)) throw new Error('--scale takes (0, 1], --sessions a positive count');
  const devices = Math.round(100_000 * scale);
  const messages = Math.round(1_000_000 * scale);
  const perSession = Math.ceil(messages / sessionCount);
  installGuards('export:scale', 60 * 60_000);
  const tmpDir = await mkdtemp(join(await stateRoot(), 'switchyard-export-scale-'));
  trackTmpDir(tmpDir);

  log('building Switchyard with wrangler (production environment) …');
  const script = await buildEnvironment(SHIPPED_ENV, join(tmpDir, 'build', 'switchyard'));
  const secrets = newSecrets();
  const running = await runningSwitchyard(switchyardSpec('switchyard-export', script, await shippedCompatibilityDate(), tmpDir, secrets));
  try {
    const seed = await createSeed();
    await applySeed(await d1Of(running.current()), { ...seed, devices: [] });
    const seedingStarted = performance.now();
    await insertDevices(await d1Of(running.current()), seed.orgId, 1, devices);
    const api = () =>
      createSwitchyardClient({ baseUrl: running.current().url.origin, apiKey: seed.apiKey, retry: false, timeoutMs: 120_000 });
    const sessionIds: string[] = [];
    for (let index = 0; index < sessionCount; index += 1) {
      const created = await api().POST('/v1/sessions', { body: { ttl_seconds: 24 * 60 * 60 } });
      if (!created.data) throw new Error(`POST /v1/sessions answered ${created.response.status}`);
      // The first read creates the room and records its settings, by which its file is found.
      await api().GET('/v1/sessions/{id}/messages', { params: { path: { id: created.data.id } } });
      sessionIds.push(created.data.id);
    }
    const target = await running.restart((stateDir, workerName) =>
      seedRoomHistories(
        stateDir,
        workerName,
        sessionIds.map((sessionId) => ({ sessionId, messages: perSession })),
      ),
    );
    await assertReady(target);
    const seedingS = (performance.now() - seedingStarted) / 1000;
    log(
      `seeded ${devices.toLocaleString('en-US')} devices and ${(perSession * sessionCount).toLocaleString('en-US')} messages in ${sessionCount} sessions in ${seedingS.toFixed(1)} s`,
    );

    const samples: Array<{ at: number; cpu: number }> = [];
    const sampler = setInterval(() => samples.push({ at: Date.now(), cpu: cpuMicros(target.pid) }), SAMPLE_MS);
    const started = performance.now();
    const cpuStart = cpuMicros(target.pid);
    const created = await api().POST('/v1/organization/exports');
    if (!created.data)
      throw new Error(`POST /v1/organization/exports answered ${created.response.status}: ${JSON.stringify(created.error)}`);
    const id = created.data.id;
    let done = created.data;
    while (done.status === 'queued' || done.status === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const read = await api().GET('/v1/organization/exports/{id}', { params: { path: { id } } });
      if (!read.data) throw new Error(`GET export answered ${read.response.status}`);
      done = read.data;
    }
    clearInterval(sampler);
    const exportS = (performance.now() - started) / 1000;
    const cpuS = (cpuMicros(target.pid) - cpuStart) / 1_000_000;
    if (done.status !== 'succeeded') throw new Error(`the export ended ${done.status} (${done.error_code})`);
    log(
      `export ${id} succeeded in ${exportS.toFixed(1)} s, ${cpuS.toFixed(1)} s of workerd CPU, ${done.size_bytes?.toLocaleString('en-US')} bytes`,
    );

    const downloadStarted = performance.now();
    const response = await fetch(new URL(`/v1/organization/exports/${id}/archive`, target.url), {
      headers: { Authorization: `Bearer ${seed.apiKey}` },
    });
    if (response.status !== 200 || !response.body) throw new Error(`download answered ${response.status}`);
    const file = join(tmpDir, `${id}.tar`);
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(file));
    const downloadS = (performance.now() - downloadStarted) / 1000;
    const size = (await stat(file)).size;
    if (size !== done.size_bytes) throw new Error(`downloaded ${size} bytes, the export says ${done.size_bytes}`);
    const listed = execFileSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      .split('\n')
      .filter(Boolean);
    const partsListed = listed.filter((name) => name.endsWith('.ndjson')).length;
    log(
      `downloaded ${size.toLocaleString('en-US')} bytes in ${downloadS.toFixed(1)} s; tar lists ${listed.length} entries (${partsListed} parts)`,
    );

    await running.dispose();
    const steps = (await stepTimings(join(tmpDir, 'state', 'switchyard-export'))).map((timing) => ({
      ...timing,
      wallMs: timing.endMs - timing.startMs,
      cpuMs: (cpuAt(samples, timing.endMs) - cpuAt(samples, timing.startMs)) / 1000,
    }));
    if (steps.length === 0) throw new Error("found no step in the local Workflows engine's log");
    const groups = new Map<string, typeof steps>();
    for (const step of steps) {
      const group = EXPORT_RESOURCES.find((resource) => step.name.startsWith(`${resource} part`)) ?? step.name.replace(/-\d+$/, '');
      groups.set(group, [...(groups.get(group) ?? []), step]);
    }
    const resources = [...groups].map(([group, members]) => {
      const cpu = members.map((step) => step.cpuMs);
      const wall = members.map((step) => step.wallMs);
      return {
        group,
        lines: (EXPORT_RESOURCES as readonly string[]).includes(group) ? done.progress[group as ExportResource] : null,
        steps: members.length,
        wallS: wall.reduce((sum, ms) => sum + ms, 0) / 1000,
        cpuS: cpu.reduce((sum, ms) => sum + ms, 0) / 1000,
        cpuMedianMs: quantile(cpu, 0.5),
        cpuMaxMs: Math.max(...cpu),
        wallMedianMs: quantile(wall, 0.5),
        wallMaxMs: Math.max(...wall),
      };
    });
    const report = {
      date: new Date().toISOString(),
      machine: machineInfo(),
      scale,
      devices,
      messages: perSession * sessionCount,
      sessions: sessionCount,
      seedingS,
      exportS,
      cpuS,
      sizeBytes: size,
      downloadS,
      partsListed,
      steps: steps.length,
      resources,
    };
    const outDir = join(ROOT, 'bench', 'results');
    await mkdir(outDir, { recursive: true });
    const outFile = join(outDir, `export-scale-${report.date.slice(0, 10)}.json`);
    await writeFile(outFile, `${JSON.stringify(report, null, 2)}\n`);
    console.log('\n| steps | lines | count | wall s | CPU s | CPU per step, median / max ms | wall per step, median / max ms |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const entry of resources) {
      console.log(
        `| ${entry.group} | ${entry.lines?.toLocaleString('en-US') ?? ''} | ${entry.steps} | ${entry.wallS.toFixed(1)} | ${entry.cpuS.toFixed(1)} | ${entry.cpuMedianMs.toFixed(0)} / ${entry.cpuMaxMs.toFixed(0)} | ${entry.wallMedianMs.toFixed(0)} / ${entry.wallMaxMs.toFixed(0)} |`,
      );
    }
    log(`wrote ${outFile}`);
  } finally {
    // Stopped already once the run got as far as reading the engine's log; stopping twice is harmless.
    await running.dispose().catch(() => undefined);
  }
}

main().then(
  () => exitWith(0),
  (error: unknown) => exitWith(2, `export:scale: ${(error as Error)?.stack ?? String(error)}`),
);
