/**
 * Curve 4: many sessions publishing at once (10 / 30 / 100 sessions by default), each with a few
 * subscribers (5) and one publisher, every publisher keeping one message in flight for the run's
 * duration. Total deliveries/s, delivery p50 / p99 (send to last subscriber of its room), the
 * runtime's CPU per delivered frame and its peak RSS: what one process of rooms costs as they add up.
 */
import { trackClients } from '../bench/lifecycle.ts';
import { RunMeter, residentKiB } from '../bench/proc.ts';
import type { Seed } from '../bench/seed.ts';
import { percentile } from '../bench/stats.ts';
import type { Target } from '../bench/targets.ts';
import type { FrameCounter } from '../bench/ws-subscriber.ts';
import type { CurveContext } from './curve-types.ts';
import { awaitIdleRuntime, awaitQuietMachine, NOISY_PERCENT } from './quiet.ts';
import { d1Of } from './runtime.ts';
import { endSession, openSession, participantEndpoints } from './sessions-api.ts';
import { CONNECT_CONCURRENCY, connectAll, PUBLISH_PER_SECOND, RoomTraffic, SocketSet, type TrafficPlan } from './ws-rooms.ts';

export interface SessionsSettings {
  counts: readonly number[];
  subscribersPerSession: number;
  durationS: number;
  jwtSecret: string;
}

export interface SessionsPoint {
  sessions: number;
  subscribersPerSession: number;
  sockets: number;
  connectS: number;
  rssAfterConnectMiB: number;
  messages: number;
  deliveries: number;
  durationS: number;
  deliveriesPerS: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerFrame: number;
  peakRssMiB: number;
  clientCpuPercent: number;
  otherCpuPercent: number;
  noisy: boolean;
}

interface Room {
  sessionId: string;
  publisher: FrameCounter;
  subscribers: FrameCounter[];
}

/** Opens the sessions and connects every room's subscribers and publisher. */
async function openRooms(target: Target, seed: Seed, count: number, settings: SessionsSettings, sockets: SocketSet): Promise<Room[]> {
  const db = await d1Of(target);
  const perRoom = settings.subscribersPerSession;
  const sessionIds: string[] = [];
  for (let index = 0; index < count; index += 1) sessionIds.push((await openSession(target.url, seed, db, perRoom + 1, false)).sessionId);
  const participants = [...Array.from({ length: perRoom }, (_, index) => `client:subscriber-${index}`), 'client:publisher'];
  const endpoints = (
    await Promise.all(sessionIds.map((sessionId) => participantEndpoints(target.url, settings.jwtSecret, seed, sessionId, participants)))
  ).flatMap((room, roomIndex) =>
    room.map((endpoint, index) => ({
      endpoint,
      prefix: index === perRoom ? ('error' as const) : ('message' as const),
      label: `${index === perRoom ? 'the publisher' : `subscriber ${index}`} of room ${roomIndex}`,
    })),
  );
  const opened = await connectAll(endpoints, CONNECT_CONCURRENCY, sockets);
  return sessionIds.map((sessionId, roomIndex) => {
    const mine = opened.slice(roomIndex * (perRoom + 1), (roomIndex + 1) * (perRoom + 1));
    return { sessionId, publisher: mine[perRoom] as FrameCounter, subscribers: mine.slice(0, perRoom) };
  });
}

/** Every room publishing at once by `plan`; the totals over all rooms. */
async function publishEverywhere(rooms: Room[], plan: TrafficPlan, idPrefix: string) {
  const results = await Promise.all(rooms.map((room) => new RoomTraffic(room.publisher, room.subscribers, plan, idPrefix).run()));
  return {
    messages: results.reduce((sum, result) => sum + result.messages, 0),
    deliveries: results.reduce((sum, result) => sum + result.deliveries, 0),
    latencies: results.flatMap((result) => result.latenciesMs).sort((a, b) => a - b),
  };
}

async function measurePoint(target: Target, count: number, settings: SessionsSettings, context: CurveContext): Promise<SessionsPoint> {
  const sockets = new SocketSet();
  trackClients(sockets);
  let rooms: Room[] = [];
  try {
    await awaitIdleRuntime(target.pid);
    const started = performance.now();
    rooms = await openRooms(target, context.seed, count, settings, sockets);
    const connectS = (performance.now() - started) / 1000;
    await awaitIdleRuntime(target.pid);
    const rssAfterConnectMiB = residentKiB(target.pid) / 1024;
    await publishEverywhere(rooms, { window: 1, maxMessages: 5, maxPerSecond: PUBLISH_PER_SECOND }, 'warm');
    await awaitQuietMachine(context.runtimePids(), context.log);
    const meter = new RunMeter(target.pid, target.rss, context.runtimePids());
    meter.start();
    const totals = await publishEverywhere(
      rooms,
      { window: 1, durationMs: settings.durationS * 1000, maxPerSecond: PUBLISH_PER_SECOND },
      'run',
    );
    const measured = meter.stop();
    if (sockets.unexpectedClose) throw sockets.unexpectedClose;
    return {
      sessions: count,
      subscribersPerSession: settings.subscribersPerSession,
      sockets: count * (settings.subscribersPerSession + 1),
      connectS,
      rssAfterConnectMiB,
      messages: totals.messages,
      deliveries: totals.deliveries,
      durationS: measured.wallMs / 1000,
      deliveriesPerS: totals.deliveries / (measured.wallMs / 1000),
      p50Ms: percentile(totals.latencies, 0.5),
      p99Ms: percentile(totals.latencies, 0.99),
      cpuUsPerFrame: measured.cpuMicros / totals.deliveries,
      peakRssMiB: measured.peakRssMiB,
      clientCpuPercent: measured.clientCpuPercent,
      otherCpuPercent: measured.otherCpuPercent,
      noisy: measured.otherCpuPercent > NOISY_PERCENT,
    };
  } finally {
    sockets.expectClose();
    await Promise.allSettled(rooms.map((room) => endSession(target.url, context.seed, room.sessionId)));
    sockets.close();
    trackClients(undefined);
  }
}

const number = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function sessionsCurve(target: Target, settings: SessionsSettings, context: CurveContext): Promise<SessionsPoint[]> {
  const points: SessionsPoint[] = [];
  for (const count of [...settings.counts].sort((a, b) => a - b)) {
    const point = await measurePoint(target, count, settings, context);
    points.push(point);
    console.log(
      `${`${number(count)} sessions`.padEnd(18)} ${number(point.sockets)} sockets  ${number(point.messages)} messages  ${number(point.deliveriesPerS)} deliveries/s` +
        `  p50 ${number(point.p50Ms, 2)} ms  p99 ${number(point.p99Ms, 2)} ms  CPU ${number(point.cpuUsPerFrame, 1)} µs/frame  RSS ${number(point.peakRssMiB)} MiB${point.noisy ? '  NOISY' : ''}`,
    );
  }
  return points;
}
