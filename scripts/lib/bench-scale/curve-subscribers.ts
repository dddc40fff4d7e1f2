/**
 * Curve 3: subscribers per session (100 / 300 / 1,000 by default). For each size, a fresh session:
 * the subscribers connect (connect rate, the runtime's CPU per connect, its RSS after minus before
 * ÷ sockets), then one publisher sends a bounded number of messages one at a time, each timed from
 * its send to the moment its last subscriber has it (delivery p50 / p99), with the runtime's CPU
 * per delivered frame. A session holds at most MAX_PARTICIPANTS sockets (the publisher is one of
 * them); past that a point is measured only with `--lift-cap` (see sessions-api.ts).
 */
import { MAX_PARTICIPANTS } from '../../../src/schemas/sessions.ts';
import { trackClients } from '../bench/lifecycle.ts';
import { cpuMicros, RunMeter, residentKiB } from '../bench/proc.ts';
import { percentile } from '../bench/stats.ts';
import type { Target } from '../bench/targets.ts';
import type { Endpoint, FrameCounter } from '../bench/ws-subscriber.ts';
import type { CurveContext } from './curve-types.ts';
import { awaitIdleRuntime, awaitQuietMachine, NOISY_PERCENT } from './quiet.ts';
import { d1Of } from './runtime.ts';
import { endSession, openSession, participantEndpoints } from './sessions-api.ts';
import { connectAll, connectConcurrency, PUBLISH_PER_SECOND, RoomTraffic, SocketSet } from './ws-rooms.ts';

/** An upgrade the Worker refused (a 504 when the room's queue outlasts the room-call deadline): a finding, not a harness error. */
class ConnectRefused extends Error {}

const WARM_IN_MESSAGES = 10;

export interface SubscriberSettings {
  counts: readonly number[];
  /** Deliveries to aim for per point: messages = this ÷ subscribers, 20 to 1,000. */
  deliveriesPerPoint: number;
  liftCap: boolean;
  jwtSecret: string;
}

export interface SubscriberPoint {
  requested: number;
  subscribers: number;
  capLifted: boolean;
  connectS: number;
  socketsPerS: number;
  cpuUsPerConnect: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  rssPerSocketKiB: number;
  /** RSS once the session has ended and its sockets closed: what the sockets held comes back, heap the joins grew may not. */
  rssAfterEndMiB: number;
  messages: number;
  deliveries: number;
  deliveriesPerS: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerFrame: number;
  peakRssMiB: number;
  clientCpuPercent: number;
  otherCpuPercent: number;
  noisy: boolean;
}

export interface SubscriberCurve {
  points: SubscriberPoint[];
  skipped: Array<{ requested: number; reason: string }>;
}

/** Connects the subscribers, timed, with the runtime's CPU and RSS around it. */
async function connectSubscribers(target: Target, endpoints: Parameters<typeof connectAll>[0], sockets: SocketSet) {
  await awaitIdleRuntime(target.pid);
  const rssBefore = residentKiB(target.pid);
  const cpuBefore = cpuMicros(target.pid);
  const started = performance.now();
  let subscribers: Awaited<ReturnType<typeof connectAll>>;
  try {
    subscribers = await connectAll(endpoints, connectConcurrency(endpoints.length), sockets);
  } catch (error) {
    const message = (error as Error).message;
    if (/upgrade was refused/.test(message)) {
      // What the Worker logged about it (its warnings and errors): why the room did not answer.
      const logged = target.recentProblems.slice(-2).map((line) => line.slice(0, 400));
      throw new ConnectRefused(
        `${message} after ${((performance.now() - started) / 1000).toFixed(0)} s; the Worker logged: ${logged.join(' | ') || 'nothing'}`,
      );
    }
    throw error;
  }
  const connectMs = performance.now() - started;
  const connectCpu = cpuMicros(target.pid) - cpuBefore;
  // What the joins left running (presence events to D1, by the room's alarm) is not the sockets' memory.
  await awaitIdleRuntime(target.pid);
  return { subscribers, connectMs, connectCpu, rssBefore, rssAfter: residentKiB(target.pid) };
}

/** The publisher's messages one at a time, timed, with the runtime's CPU and peak RSS over them. */
async function deliver(target: Target, publisher: FrameCounter, subscribers: FrameCounter[], messages: number, context: CurveContext) {
  const plan = (count: number) => ({ window: 1, maxMessages: count, maxPerSecond: PUBLISH_PER_SECOND });
  await new RoomTraffic(publisher, subscribers, plan(WARM_IN_MESSAGES), 'warm').run();
  await awaitQuietMachine(context.runtimePids(), context.log);
  const meter = new RunMeter(target.pid, target.rss, context.runtimePids());
  meter.start();
  const traffic = await new RoomTraffic(publisher, subscribers, plan(messages), 'run').run();
  const measured = meter.stop();
  const latencies = [...traffic.latenciesMs].sort((a, b) => a - b);
  return {
    messages: traffic.messages,
    deliveries: traffic.deliveries,
    deliveriesPerS: traffic.deliveries / (measured.wallMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerFrame: measured.cpuMicros / traffic.deliveries,
    peakRssMiB: measured.peakRssMiB,
    clientCpuPercent: measured.clientCpuPercent,
    otherCpuPercent: measured.otherCpuPercent,
    noisy: measured.otherCpuPercent > NOISY_PERCENT,
  };
}

/** In an open session: connect the subscribers, then the publisher, then deliver. */
async function measureInSession(
  target: Target,
  endpoints: Endpoint[],
  subscribers: number,
  settings: SubscriberSettings,
  context: CurveContext,
  sockets: SocketSet,
) {
  const labelled = endpoints
    .slice(0, subscribers)
    .map((endpoint, index) => ({ endpoint, prefix: 'message' as const, label: `subscriber ${index}` }));
  const connected = await connectSubscribers(target, labelled, sockets);
  const [publisher] = await connectAll(
    [{ endpoint: endpoints[subscribers] as Endpoint, prefix: 'error', label: 'the publisher' }],
    1,
    sockets,
  );
  if (!publisher) throw new Error('the publisher did not connect');
  const messages = Math.max(20, Math.min(1000, Math.round(settings.deliveriesPerPoint / subscribers)));
  const delivered = await deliver(target, publisher, connected.subscribers, messages, context);
  if (sockets.unexpectedClose) throw sockets.unexpectedClose;
  return {
    connectS: connected.connectMs / 1000,
    socketsPerS: subscribers / (connected.connectMs / 1000),
    cpuUsPerConnect: connected.connectCpu / subscribers,
    rssBeforeMiB: connected.rssBefore / 1024,
    rssAfterMiB: connected.rssAfter / 1024,
    rssPerSocketKiB: (connected.rssAfter - connected.rssBefore) / subscribers,
    ...delivered,
  };
}

async function measurePoint(
  target: Target,
  subscribers: number,
  settings: SubscriberSettings,
  context: CurveContext,
): Promise<SubscriberPoint> {
  const session = await openSession(target.url, context.seed, await d1Of(target), subscribers + 1, settings.liftCap);
  const participants = [...Array.from({ length: subscribers }, (_, index) => `client:subscriber-${index}`), 'client:publisher'];
  const endpoints = await participantEndpoints(target.url, settings.jwtSecret, context.seed, session.sessionId, participants);
  const sockets = new SocketSet();
  trackClients(sockets);
  let figures: Awaited<ReturnType<typeof measureInSession>>;
  try {
    figures = await measureInSession(target, endpoints, subscribers, settings, context, sockets);
  } finally {
    sockets.expectClose();
    await endSession(target.url, context.seed, session.sessionId).catch(() => undefined);
    sockets.close();
    trackClients(undefined);
  }
  await awaitIdleRuntime(target.pid);
  return { requested: subscribers, subscribers, capLifted: session.capLifted, ...figures, rssAfterEndMiB: residentKiB(target.pid) / 1024 };
}

const number = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function subscribersCurve(target: Target, settings: SubscriberSettings, context: CurveContext): Promise<SubscriberCurve> {
  const curve: SubscriberCurve = { points: [], skipped: [] };
  for (const requested of [...settings.counts].sort((a, b) => a - b)) {
    if (!settings.liftCap && requested > MAX_PARTICIPANTS) {
      const reason = `a session holds at most ${number(MAX_PARTICIPANTS)} sockets (MAX_PARTICIPANTS in src/schemas/sessions.ts, and the CHECK on sessions.max_participants in migrations/0004); --lift-cap measures past it`;
      curve.skipped.push({ requested, reason });
      context.log(`${number(requested)} subscribers: not measured: ${reason}`);
      continue;
    }
    // Without the lift, the publisher is one of the session's sockets: 999 subscribers at the cap.
    const subscribers = settings.liftCap ? requested : Math.min(requested, MAX_PARTICIPANTS - 1);
    let point: SubscriberPoint;
    try {
      point = { ...(await measurePoint(target, subscribers, settings, context)), requested };
    } catch (error) {
      if (!(error instanceof ConnectRefused)) throw error;
      curve.skipped.push({ requested, reason: `connecting failed: ${error.message}` });
      context.log(`${number(requested)} subscribers: not measured: connecting failed: ${error.message}`);
      continue;
    }
    curve.points.push(point);
    console.log(
      `${`${number(subscribers)} subscribers`.padEnd(18)} connect ${number(point.connectS, 1)} s (${number(point.socketsPerS)}/s, ${number(point.cpuUsPerConnect)} µs CPU each)` +
        `  RSS +${number(point.rssPerSocketKiB, 1)} KiB/socket  ${number(point.messages)} messages  p50 ${number(point.p50Ms, 2)} ms  p99 ${number(point.p99Ms, 2)} ms` +
        `  ${number(point.deliveriesPerS)} deliveries/s  CPU ${number(point.cpuUsPerFrame, 1)} µs/frame${point.noisy ? '  NOISY' : ''}`,
    );
  }
  return curve;
}
