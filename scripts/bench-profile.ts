/**
 * `npm run bench:profile`: where Switchyard's CPU goes in one benchmark scenario. Builds the
 * shipped Worker (unminified, so the profile names functions), runs it as `npm run bench` does
 * (its own workerd process, the same seed, the same requests), and records a V8 CPU profile
 * through the runtime's inspector while autocannon drives the scenario. Prints the self time by
 * source module (from the bundle's `// src/…` / `// node_modules/…` markers) and the hottest
 * functions, and writes the profile for Chrome DevTools.
 *
 *   npm run bench:profile -- --scenario device-read --duration 5
 *
 * `--log-level info` keeps the request log line (off by default: see below).
 *
 * A profile shows shares of the runtime's time; the µs per request figures are those shares of
 * the CPU per request measured over the same run (/proc), as the benchmark measures it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildEnvironment, SHIPPED_ENV, shippedCompatibilityDate } from './lib/bench/build.ts';
import { runHttpLoad } from './lib/bench/http-load.ts';
import { exitWith, installGuards, trackTmpDir } from './lib/bench/lifecycle.ts';
import { SCENARIO_IDS, type ScenarioId } from './lib/bench/options.ts';
import { RunMeter } from './lib/bench/proc.ts';
import { httpRequest } from './lib/bench/scenarios.ts';
import { createSeed } from './lib/bench/seed.ts';
import { startTargets, targetSpecs } from './lib/bench/targets.ts';
import { freePort } from './lib/local-worker.ts';

installGuards('bench:profile', 5 * 60 * 1000);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
async function inspect(port: number, worker: string) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ id: string; webSocketDebuggerUrl: string }>;
  const target = targets.find((candidate) => candidate.id === `core:user:${worker}`) ?? targets[0];
  if (!target) throw new Error(`the inspector on port ${port} lists no worker`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', () => reject(new Error('could not open the inspector socket')), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, (result) => resolve(result as T));
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => socket.close() };
}

/** The source module of each line of the unminified bundle, from esbuild's `// path` comments. */
function moduleOfLine(bundle: string): (line: number) => string {
  const starts: Array<{ line: number; module: string }> = [];
  bundle.split('\n').forEach((text, line) => {
    const marker = /^\/\/ ((?:src|node_modules|bench)\/\S+)$/.exec(text);
    if (marker?.[1]) starts.push({ line, module: marker[1].replace(/^node_modules\/(?:\.pnpm\/)?/, '') });
  });
  return (line) => {
    let found = '(runtime)';
    for (const start of starts) {
      if (start.line > line) break;
      found = start.module;
    }
    return found;
  };
}

function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  for (const [index, node] of profile.samples.entries()) self.set(node, (self.get(node) ?? 0) + (profile.timeDeltas[index] ?? 0));
  return self;
}

function table(title: string, rows: Array<[string, number]>, total: number, requests: number, top: number): string {
  const lines = [`\n${title}`, '| share | µs / request | where |', '| ---: | ---: | --- |'];
  for (const [name, micros] of rows.sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`| ${((micros / total) * 100).toFixed(1)} % | ${(micros / requests).toFixed(1)} | ${name} |`);
  }
  return lines.join('\n');
}

/**
 * Sampled time by module and by function, per request. The Worker's isolate only: local D1 runs its
 * SQLite in another isolate of the same process, which the process CPU figure includes and this does not.
 */
function summarize(profile: CpuProfile, bundle: string, requests: number, cpuUsPerRequest: number, top: number): string {
  const moduleOf = moduleOfLine(bundle);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfTimes(profile)) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    total += micros;
    const inBundle = frame.url.endsWith('.js') && !frame.url.startsWith('node:') && frame.url !== '';
    const module = inBundle ? moduleOf(frame.lineNumber) : frame.functionName || '(runtime)';
    byModule.set(module, (byModule.get(module) ?? 0) + micros);
    const name = `${frame.functionName || '(anonymous)'} ${inBundle ? `${module}:${frame.lineNumber + 1}` : ''}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  }
  return [
    `${(total / 1000).toFixed(0)} ms of samples in the Worker's isolate (idle excluded), ${(total / requests).toFixed(0)} µs per request; ` +
      `the whole process: ${cpuUsPerRequest.toFixed(0)} µs of CPU per request over the run (profiler included)`,
    table('Self time by module', [...byModule], total, requests, top),
    table('Self time by function', [...byFunction], total, requests, top),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'device-read' },
      duration: { type: 'string', default: '5' },
      top: { type: 'string', default: '25' },
      out: { type: 'string', default: join(tmpdir(), 'switchyard.cpuprofile') },
      'log-level': { type: 'string', default: 'error' },
      // µs between samples: finer slows the runtime more (at 100, a device read took 2.5× its CPU).
      interval: { type: 'string', default: '250' },
    },
  });
  const scenario = values.scenario as ScenarioId;
  if (!SCENARIO_IDS.includes(scenario) || scenario === 'fan-out') throw new Error(`--scenario: one of the HTTP scenarios, not ${scenario}`);
  const dir = join(tmpdir(), `switchyard-profile-${process.pid}`);
  trackTmpDir(dir);
  const script = await buildEnvironment(SHIPPED_ENV, join(dir, 'build'));
  const seed = await createSeed();
  const port = await freePort();
  // Only Switchyard is built and started here: the references' paths are never used.
  const builds = {
    compatibilityDate: await shippedCompatibilityDate(),
    switchyard: script,
    references: { 'bare-ok': '', 'bare-hono': '', 'bare-broadcast': '' },
    bundle: { minifiedBytes: 0, gzipBytes: 0 },
  };
  const plan = (logLineBytes: number) => {
    const specs = targetSpecs(builds, seed, dir, logLineBytes);
    const worker = specs.switchyard.worker;
    // With an inspector attached, workerd serialises every console call for it (`toJson`, a fifth of
    // the samples): the request log line would cost several times what it costs without one. So the
    // line is off by default here; its cost is measured apart (bench/README.md).
    const bindings = { ...worker.bindings, LOG_LEVEL: values['log-level'] };
    return { ...specs, switchyard: { ...specs.switchyard, inspectorPort: port, worker: { ...worker, bindings } } };
  };
  const switchyard = (await startTargets(new Set(['switchyard']), plan, seed, console.log)).get('switchyard');
  if (!switchyard) throw new Error('Switchyard did not start');
  const request = httpRequest(scenario, seed);
  const durationS = Number(values.duration);
  await runHttpLoad(switchyard.url, request, { connections: 50, durationS: 2 });
  const inspector = await inspect(port, 'switchyard');
  await inspector.send('Profiler.enable');
  await inspector.send('Profiler.setSamplingInterval', { interval: Number(values.interval) });
  await inspector.send('Profiler.start');
  const meter = new RunMeter(switchyard.pid, switchyard.rss, [switchyard.pid]);
  meter.start();
  const load = await runHttpLoad(switchyard.url, request, { connections: 50, durationS });
  const measured = meter.stop();
  const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop');
  inspector.close();
  await writeFile(values.out, JSON.stringify(profile));
  console.log(
    `\n${scenario}: ${load.requests} requests, ${load.rps.toFixed(0)} req/s (the profiler slows the runtime); profile in ${values.out}`,
  );
  console.log(summarize(profile, await readFile(script, 'utf8'), load.requests, measured.cpuMicros / load.requests, Number(values.top)));
}

main().then(
  () => exitWith(0),
  (error: unknown) => exitWith(2, `bench:profile: ${(error as Error)?.stack ?? String(error)}`),
);
