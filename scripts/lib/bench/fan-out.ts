/**
 * WebSocket fan-out: one publisher and N subscribers on one room. The publisher keeps a bounded
 * window of messages in flight (sent but not yet received by subscriber 0) for the run's
 * duration, then stops; the run ends when every subscriber has received every message. Both
 * sides are driven by this same client code, and a frame counts when it is a `message` (Switchyard's
 * presence frames are ignored).
 */
import { type Endpoint, FrameCounter } from './ws-subscriber.ts';

/** A room of one target: where its sockets connect, and how it is torn down. */
export interface FanOutRoom {
  /** Where socket number `index` connects; 0 … subscribers − 1 subscribe, the last one publishes. */
  endpoint(index: number): Endpoint;
  /** Ends the room (its sockets close). */
  end(): Promise<void>;
}

/** Which client the subscribers use: the cheap frame counter, or Node's global WebSocket (undici). */
export type SubscriberClient = 'raw' | 'global';

export interface FanOutRunResult {
  messages: number;
  deliveries: number;
  durationS: number;
  deliveriesPerS: number;
}

interface RunState {
  sent: number;
  received: number;
  designatedReceived: number;
  sending: boolean;
  finish: (() => void) | undefined;
}

interface Subscriber {
  ready: Promise<void>;
  onMessage: (counted: boolean) => void;
  onClose: (code: number, reason: string) => void;
  close(): void;
}

const COUNTED_PREFIX = '{"type":"message"';
const CONNECT_BATCH = 20;
const STALL_MS = 15_000;

function opened(socket: WebSocket, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`${label} could not connect`)), { once: true });
    socket.addEventListener('close', (event) => reject(new Error(`${label} closed while connecting (${event.code})`)), { once: true });
  });
}

/** A subscriber on Node's global WebSocket: every frame is parsed as JSON and counted when its `type` is `message`. */
function globalSubscriber(endpoint: Endpoint): Subscriber {
  const socket = new WebSocket(endpoint.url.href, endpoint.protocols);
  const subscriber: Subscriber = {
    ready: opened(socket, 'a subscriber'),
    onMessage: () => undefined,
    onClose: () => undefined,
    close: () => socket.close(1000, 'benchmark done'),
  };
  socket.addEventListener('message', (event) => {
    subscriber.onMessage((JSON.parse(String(event.data)) as { type?: unknown }).type === 'message');
  });
  socket.addEventListener('close', (event) => subscriber.onClose(event.code, event.reason));
  return subscriber;
}

/** A subscriber on the frame counter: counted when a text frame starts with `{"type":"message"`. */
function rawSubscriber(endpoint: Endpoint): Subscriber {
  const counter = new FrameCounter(endpoint, COUNTED_PREFIX);
  const subscriber: Subscriber = {
    ready: counter.ready,
    onMessage: () => undefined,
    onClose: () => undefined,
    close: () => counter.close(),
  };
  counter.onMessage = (counted) => subscriber.onMessage(counted);
  counter.onClose = (code, reason) => subscriber.onClose(code, reason);
  return subscriber;
}

export class FanOutClients {
  private readonly sockets: Subscriber[] = [];
  private publisherSocket: WebSocket | undefined;
  private readonly subscribers: number;
  private readonly window: number;
  private state: RunState = { sent: 0, received: 0, designatedReceived: 0, sending: false, finish: undefined };
  private failure: Error | undefined;
  private closing = false;
  /** Messages published on this room so far, over every run: each one's id. */
  private published = 0;

  private constructor(subscribers: number, window: number) {
    this.subscribers = subscribers;
    this.window = window;
  }

  /** Connects the subscribers (in batches), then the publisher (always on Node's global WebSocket). */
  static async connect(room: FanOutRoom, subscribers: number, window: number, client: SubscriberClient): Promise<FanOutClients> {
    const clients = new FanOutClients(subscribers, window);
    try {
      for (let first = 0; first < subscribers; first += CONNECT_BATCH) {
        const batch: Promise<void>[] = [];
        for (let index = first; index < Math.min(subscribers, first + CONNECT_BATCH); index += 1) {
          const endpoint = room.endpoint(index);
          batch.push(clients.addSubscriber(client === 'raw' ? rawSubscriber(endpoint) : globalSubscriber(endpoint), index));
        }
        await Promise.all(batch);
      }
      const endpoint = room.endpoint(subscribers);
      const publisher = new WebSocket(endpoint.url.href, endpoint.protocols);
      clients.publisherSocket = publisher;
      await opened(publisher, 'the publisher');
      publisher.addEventListener('close', (event) => clients.unexpectedClose('the publisher', event.code, event.reason));
    } catch (error) {
      clients.close();
      throw error;
    }
    return clients;
  }

  private unexpectedClose(label: string, code: number, reason: string): void {
    if (!this.closing) this.fail(new Error(`${label}'s socket closed during the run (${code} ${reason})`));
  }

  private async addSubscriber(subscriber: Subscriber, index: number): Promise<void> {
    this.sockets[index] = subscriber;
    try {
      await subscriber.ready;
    } catch (error) {
      throw new Error(`subscriber ${index} could not connect: ${(error as Error).message}`);
    }
    subscriber.onClose = (code, reason) => this.unexpectedClose(`subscriber ${index}`, code, reason);
    subscriber.onMessage = (counted) => {
      if (!counted) return;
      const state = this.state;
      state.received += 1;
      if (index === 0) {
        state.designatedReceived += 1;
        this.pump();
      } else if (!state.sending && state.received === state.sent * this.subscribers) {
        state.finish?.();
      }
    };
  }

  private get publisher(): WebSocket {
    if (!this.publisherSocket) throw new Error('the publisher is not connected');
    return this.publisherSocket;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.state.finish?.();
  }

  private pump(): void {
    const state = this.state;
    while (state.sending && state.sent - state.designatedReceived < this.window) {
      // With an id, as a client that wants each message once sends it: the room's dedupe is part of what is measured.
      // Ids run on across runs (the warm-in, then the measured run): the room would drop a repeated one.
      this.publisher.send(`{"type":"message","id":"bench-${this.published}","payload":{"n":${state.sent}}}`);
      this.published += 1;
      state.sent += 1;
    }
    if (!state.sending && state.received === state.sent * this.subscribers) state.finish?.();
  }

  /**
   * Publishes for `durationMs`, then waits until every subscriber has every message. `onStart`
   * runs right before the first message (to start the meters).
   */
  run(durationMs: number, onStart: () => void = () => undefined): Promise<FanOutRunResult> {
    if (this.failure) return Promise.reject(this.failure);
    const state: RunState = { sent: 0, received: 0, designatedReceived: 0, sending: true, finish: undefined };
    this.state = state;
    return new Promise((resolve, reject) => {
      let lastProgress = { at: performance.now(), received: 0 };
      const stall = setInterval(() => {
        if (state.received !== lastProgress.received) lastProgress = { at: performance.now(), received: state.received };
        else if (performance.now() - lastProgress.at > STALL_MS) {
          this.fail(new Error(`no delivery for ${STALL_MS / 1000} s (${state.received} of ${state.sent * this.subscribers} delivered)`));
        }
      }, 1000);
      const stop = setTimeout(() => {
        state.sending = false;
        this.pump();
      }, durationMs);
      onStart();
      const startedAt = performance.now();
      state.finish = () => {
        const elapsedMs = performance.now() - startedAt;
        state.finish = undefined;
        clearInterval(stall);
        clearTimeout(stop);
        if (this.failure) {
          reject(this.failure);
          return;
        }
        const deliveries = state.sent * this.subscribers;
        resolve({ messages: state.sent, deliveries, durationS: elapsedMs / 1000, deliveriesPerS: deliveries / (elapsedMs / 1000) });
      };
      this.pump();
    });
  }

  /** From now on a closing socket is expected (the room is being ended), not a failure. */
  prepareToClose(): void {
    this.closing = true;
  }

  close(): void {
    this.closing = true;
    for (const socket of [...this.sockets, this.publisherSocket]) {
      try {
        socket?.close();
      } catch {
        // Already closed.
      }
    }
  }
}
