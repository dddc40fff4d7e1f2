/**
 * WebSocket traffic for the realtime curves: many sockets opened with a bounded number of upgrades
 * in flight, and a publisher per room that keeps a small window of messages in flight and times
 * each one from its send to the moment its last subscriber has it. Every socket is the raw client
 * of scripts/lib/bench/ws-subscriber.ts, the publisher included: Node's WebSocket costs ~40 µs of
 * client CPU per frame here, which at a hundred publishers would measure the client.
 */
import { type Endpoint, FrameCounter } from '../bench/ws-subscriber.ts';

/** A subscriber counts the text frames that start like this: the room's `message` envelopes. */
const MESSAGE_PREFIX = '{"type":"message"';
/** The publisher watches for these: a refused frame (rate limit, invalid) would stall its room. */
const ERROR_PREFIX = '{"type":"error"';
// Generous: a join costs the room ~24 µs per socket already there (it tells every one), and others wait in line.
const CONNECT_TIMEOUT_MS = 60_000;
const STALL_MS = 15_000;

/** Upgrades in flight while connecting a small room (and each of the sessions curve's rooms). */
export const CONNECT_CONCURRENCY = 32;

/**
 * Fewer upgrades in flight as the room grows: a join costs the room O(sockets) (it tells every
 * socket), joins queue in the room, and the Worker gives a room call 2 s (ROOM_CALL_TIMEOUT_MS,
 * answered 504): 32 in flight at ~2,000 sockets already passed it here. Two keep the room busy.
 */
export function connectConcurrency(sockets: number): number {
  return Math.max(2, Math.min(CONNECT_CONCURRENCY, Math.floor(20_000 / sockets)));
}

/** The publisher's pace, under the session's 1,000 frames a second (MAX_FRAMES_PER_SECOND). */
export const PUBLISH_PER_SECOND = 800;

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Sockets opened by {@link connectAll}, closed together (also by the run's clean-up on an interrupt). */
export class SocketSet {
  readonly sockets: FrameCounter[] = [];
  private expectingClose = false;
  private failure: Error | undefined;

  /** The first socket that closed while it should not have, if any. */
  get unexpectedClose(): Error | undefined {
    return this.failure;
  }

  track(socket: FrameCounter, label: string): void {
    this.sockets.push(socket);
    socket.onClose = (code, reason) => {
      if (!this.expectingClose) this.failure ??= new Error(`${label} closed during the run (${code} ${reason})`);
    };
  }

  /** From now on sockets closing are expected (the session is being ended). */
  expectClose(): void {
    this.expectingClose = true;
  }

  close(): void {
    this.expectingClose = true;
    for (const socket of this.sockets) socket.close();
  }
}

/**
 * Opens every endpoint with at most `concurrency` upgrades in flight, in order. `prefixes[i]` says
 * which frames socket i counts. Resolves with the sockets (also tracked in `into`).
 */
export async function connectAll(
  endpoints: ReadonlyArray<{ endpoint: Endpoint; prefix: 'message' | 'error'; label: string }>,
  concurrency: number,
  into: SocketSet,
): Promise<FrameCounter[]> {
  const opened: FrameCounter[] = new Array(endpoints.length);
  let next = 0;
  const worker = async () => {
    while (next < endpoints.length) {
      const index = next;
      next += 1;
      const { endpoint, prefix, label } = endpoints[index] as (typeof endpoints)[number];
      const socket = new FrameCounter(endpoint, prefix === 'message' ? MESSAGE_PREFIX : ERROR_PREFIX);
      into.track(socket, label);
      try {
        await withDeadline(socket.ready, CONNECT_TIMEOUT_MS, `opening ${label}`);
      } catch (error) {
        throw new Error(`${label} could not connect: ${(error as Error).message}`);
      }
      opened[index] = socket;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, endpoints.length) }, worker));
  return opened;
}

export interface TrafficPlan {
  /** Messages in flight per room: sent, not yet received by every subscriber. */
  window: number;
  /** Stop after this many messages … */
  maxMessages?: number;
  /** … or after this long (whichever comes first); the run then waits for what is in flight. */
  durationMs?: number;
  /** The publisher's own pace, below the session's `frames_per_second`, so no frame is refused. */
  maxPerSecond: number;
}

export interface TrafficResult {
  messages: number;
  /** Frames received by subscribers (the publisher's own copy is not counted). */
  deliveries: number;
  /** Per message: from its send to its last subscriber receiving it. */
  latenciesMs: number[];
}

/**
 * One room's traffic: one publisher, N subscribers. A subscriber's j-th message frame is the
 * publisher's j-th message (one publisher, and a socket receives in order), so a count per
 * subscriber is all the client needs to know when a message has reached everyone.
 */
export class RoomTraffic {
  private readonly inFlight = new Map<number, { sentAt: number; remaining: number }>();
  private readonly latencies: number[] = [];
  private sent = 0;
  private deliveries = 0;
  private sending = true;
  private tokens = 1;
  private refilledAt = performance.now();
  private paceTimer: NodeJS.Timeout | undefined;
  private settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly publisher: FrameCounter;
  private readonly subscribers: readonly FrameCounter[];
  private readonly plan: TrafficPlan;
  private readonly idPrefix: string;

  constructor(publisher: FrameCounter, subscribers: readonly FrameCounter[], plan: TrafficPlan, idPrefix: string) {
    this.publisher = publisher;
    this.subscribers = subscribers;
    this.plan = plan;
    this.idPrefix = idPrefix;
    subscribers.forEach((subscriber) => {
      let received = 0;
      subscriber.onMessage = (isMessage) => {
        if (isMessage) this.delivered(received++);
      };
    });
    publisher.onMessage = (isError) => {
      if (isError) this.fail(new Error('the room refused a published frame (an error frame came back)'));
    };
  }

  private delivered(index: number): void {
    const entry = this.inFlight.get(index);
    if (entry === undefined) {
      this.fail(new Error(`a subscriber received message ${index}, which was not in flight`));
      return;
    }
    this.deliveries += 1;
    entry.remaining -= 1;
    if (entry.remaining > 0) return;
    this.latencies.push(performance.now() - entry.sentAt);
    this.inFlight.delete(index);
    this.pump();
  }

  /** Takes one send from the publisher's token bucket (a burst of at most 20). */
  private takeToken(): boolean {
    const now = performance.now();
    this.tokens = Math.min(20, this.tokens + ((now - this.refilledAt) * this.plan.maxPerSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private pump(): void {
    while (this.sending && this.inFlight.size < this.plan.window) {
      if (this.plan.maxMessages !== undefined && this.sent >= this.plan.maxMessages) {
        this.sending = false;
        break;
      }
      if (!this.takeToken()) {
        const waitMs = ((1 - this.tokens) * 1000) / this.plan.maxPerSecond;
        this.paceTimer ??= setTimeout(
          () => {
            this.paceTimer = undefined;
            this.pump();
          },
          Math.max(1, waitMs),
        );
        return;
      }
      const index = this.sent;
      this.sent += 1;
      this.inFlight.set(index, { sentAt: performance.now(), remaining: this.subscribers.length });
      // With an id, as a client that wants each message once sends it: the room's dedupe is measured too.
      this.publisher.sendText(`{"type":"message","id":"${this.idPrefix}-${index}","payload":{"n":${index}}}`);
    }
    if (!this.sending && this.inFlight.size === 0) this.settle?.resolve();
  }

  private fail(error: Error): void {
    this.sending = false;
    this.settle?.reject(error);
  }

  /** Publishes by the plan; resolves once every message sent has reached every subscriber. */
  run(): Promise<TrafficResult> {
    return new Promise<TrafficResult>((resolve, reject) => {
      let lastDeliveries = -1;
      let lastProgressAt = performance.now();
      const stall = setInterval(() => {
        if (this.deliveries !== lastDeliveries) {
          lastDeliveries = this.deliveries;
          lastProgressAt = performance.now();
        } else if (performance.now() - lastProgressAt > STALL_MS) {
          this.fail(new Error(`no delivery for ${STALL_MS / 1000} s (${this.inFlight.size} messages in flight)`));
        }
      }, 1000);
      const stop =
        this.plan.durationMs === undefined
          ? undefined
          : setTimeout(() => {
              this.sending = false;
              this.pump();
            }, this.plan.durationMs);
      const done = () => {
        clearInterval(stall);
        if (stop) clearTimeout(stop);
        if (this.paceTimer) clearTimeout(this.paceTimer);
        this.settle = undefined;
      };
      this.settle = {
        resolve: () => {
          done();
          resolve({ messages: this.sent, deliveries: this.deliveries, latenciesMs: this.latencies });
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      this.pump();
    });
  }
}
