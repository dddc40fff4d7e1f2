/**
 * The soak's WebSocket subscribers. Each one connects with its connect token as a subprotocol (as
 * generated/client.ts does), pings within the room's 60 s silence limit, and, whenever its socket
 * closes before the end (the soak drops a few on purpose; a chaotic connect fails), reconnects with
 * `last_seq` so the room replays what it missed. Frames of one socket come in `seq` order, so a
 * subscriber keeps only its first and last `seq`, the gaps between and the repeats: enough to tell,
 * for any acknowledged message, whether it arrived, without holding every frame.
 */
import { type ServerFrame, sessionSocketProtocols, sessionSocketUrl } from '../../../generated/client.ts';

const PING_EVERY_MS = 20_000;
const PING_FRAME = '{"type":"ping"}';
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 3_000;
/** An upgrade unanswered for this long has failed: the Worker answers within its 8 s deadline. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A subscriber that cannot reconnect for this long has given up: it was not subscribed throughout. */
const RECONNECT_BUDGET_MS = 45_000;

export interface SubscriberEndpoint {
  baseUrl: string;
  sessionId: string;
  token: string;
}

/** What every subscriber of a session saw at each `seq`: the publish id a message carried. */
export class SessionLedger {
  readonly idAtSeq = new Map<number, string>();
  /** A seq seen with two different payloads by two subscribers: the room broke its own sequence. */
  conflicts = 0;

  record(seq: number, id: string): void {
    const known = this.idAtSeq.get(seq);
    if (known === undefined) this.idAtSeq.set(seq, id);
    else if (known !== id) this.conflicts += 1;
  }

  /** Publish ids broadcast under more than one seq: a message sent twice. */
  duplicatedIds(): Map<string, number[]> {
    const seqsById = new Map<string, number[]>();
    for (const [seq, id] of this.idAtSeq) seqsById.set(id, [...(seqsById.get(id) ?? []), seq]);
    return new Map([...seqsById].filter(([, seqs]) => seqs.length > 1));
  }
}

export class Subscriber {
  readonly sessionIndex: number;
  /** When (performance.now) its first socket opened; a publish sent after this must reach it. */
  subscribedAt: number | undefined;
  firstSeq: number | undefined;
  lastSeq = 0;
  /** Seq ranges [from, to] that never arrived. */
  readonly gaps: Array<[number, number]> = [];
  /** Frames whose seq it had already had: delivered twice. */
  repeats = 0;
  /** Sockets opened after the first. */
  reconnects = 0;
  /** Connect attempts that did not open (a 503 during the upgrade, say). */
  failedConnects = 0;
  /** Closes the soak did not ask for, by close code. */
  readonly unexpectedCloses = new Map<number, number>();
  gaveUp = false;

  private readonly endpoint: SubscriberEndpoint;
  private readonly ledger: SessionLedger;
  private socket: WebSocket | undefined;
  private open = false;
  private closing = false;
  private dropping = false;
  private pinger: NodeJS.Timeout | undefined;
  private firstOpen: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(sessionIndex: number, endpoint: SubscriberEndpoint, ledger: SessionLedger) {
    this.sessionIndex = sessionIndex;
    this.endpoint = endpoint;
    this.ledger = ledger;
  }

  get connected(): boolean {
    return this.open;
  }

  /** Connects, retrying as it would after any close; resolves once the first socket is open. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstOpen = { resolve, reject };
      this.connect(performance.now(), 0);
    });
  }

  private connect(disconnectedAt: number, failures: number): void {
    if (this.closing) return;
    // The first socket starts from now; every later one resumes after the last seq processed.
    const resume = this.subscribedAt === undefined ? undefined : this.lastSeq;
    const url = sessionSocketUrl({ baseUrl: this.endpoint.baseUrl, sessionId: this.endpoint.sessionId, lastSeq: resume });
    const socket = new WebSocket(url.href, sessionSocketProtocols(this.endpoint.token));
    this.socket = socket;
    let state: 'connecting' | 'open' | 'done' = 'connecting';
    // Node's WebSocket reports a refused upgrade (a 503, a 504) with 'error' and no 'close'; an
    // upgrade that never answers with neither: both end the attempt here, once.
    const failed = () => {
      if (state !== 'connecting') return;
      state = 'done';
      clearTimeout(deadline);
      this.failedConnects += 1;
      socket.close();
      if (!this.closing) this.retry(disconnectedAt, failures + 1);
    };
    const deadline = setTimeout(failed, CONNECT_TIMEOUT_MS);
    socket.addEventListener('open', () => {
      if (state !== 'connecting') return;
      state = 'open';
      clearTimeout(deadline);
      this.open = true;
      if (this.subscribedAt === undefined) {
        this.subscribedAt = performance.now();
        this.firstOpen?.resolve();
        this.firstOpen = undefined;
      } else {
        this.reconnects += 1;
      }
    });
    socket.addEventListener('error', failed);
    socket.addEventListener('message', (event) => this.receive(String(event.data)));
    socket.addEventListener('close', (event) => {
      if (state === 'connecting') {
        failed();
        return;
      }
      if (state !== 'open') return;
      state = 'done';
      this.open = false;
      if (this.closing) return;
      if (!this.dropping) this.unexpectedCloses.set(event.code, (this.unexpectedCloses.get(event.code) ?? 0) + 1);
      this.dropping = false;
      this.connect(performance.now(), 0);
    });
    this.pinger ??= setInterval(() => {
      if (this.open) this.socket?.send(PING_FRAME);
    }, PING_EVERY_MS);
  }

  private retry(disconnectedAt: number, failures: number): void {
    if (performance.now() - disconnectedAt > RECONNECT_BUDGET_MS) {
      this.gaveUp = true;
      this.firstOpen?.reject(new Error(`could not connect to session ${this.endpoint.sessionId} within ${RECONNECT_BUDGET_MS / 1000} s`));
      this.firstOpen = undefined;
      return;
    }
    const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (failures - 1));
    setTimeout(() => this.connect(disconnectedAt, failures), backoff / 2 + Math.random() * (backoff / 2));
  }

  private receive(text: string): void {
    const frame = JSON.parse(text) as ServerFrame;
    if (frame.type !== 'message' && frame.type !== 'presence') return;
    const { seq } = frame;
    if (seq <= this.lastSeq) {
      this.repeats += 1;
      return;
    }
    if (this.firstSeq === undefined) this.firstSeq = seq;
    else if (seq > this.lastSeq + 1) this.gaps.push([this.lastSeq + 1, seq - 1]);
    this.lastSeq = seq;
    const id = (frame.payload as { id?: unknown } | null)?.id;
    if (frame.type === 'message' && typeof id === 'string') this.ledger.record(seq, id);
  }

  /** Whether the frame with this seq reached it (it was subscribed by then). */
  received(seq: number): boolean {
    if (this.firstSeq === undefined || seq < this.firstSeq || seq > this.lastSeq) return false;
    return !this.gaps.some(([from, to]) => seq >= from && seq <= to);
  }

  /** Closes its socket as a flaky network would; it reconnects with `last_seq`. */
  drop(): void {
    if (!this.open || this.closing) return;
    this.dropping = true;
    this.socket?.close(1000, 'soak: reconnect');
  }

  close(): void {
    this.closing = true;
    clearInterval(this.pinger);
    this.socket?.close(1000, 'soak: done');
  }
}
