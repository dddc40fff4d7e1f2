/**
 * The soak's mixed workload, and what it remembers to verify afterwards. A few device clients
 * create (with an Idempotency-Key), read, update, delete and page through devices, and now and then
 * open a session and mint a token; each owns the devices it created, so it knows what each should
 * hold. One publisher per subscribed session publishes (with an Idempotency-Key) back to back. Every
 * request goes through {@link withRetries}: what the API answers 503 / 504 / 429 / 409-in-use is
 * repeated, the same key each time.
 */
import type { components, SwitchyardClient } from '../../../generated/client.ts';
import { type Outcome, problemCode, type Recorder, sleep, withRetries } from './http.ts';

type Device = components['schemas']['Device'];

/** A device a client created (or tried to), and what it was told about it. */
export interface TrackedDevice {
  name: string;
  /** Known once a create was acknowledged (201). */
  id: string | undefined;
  /** `unknown`: every attempt was told to try again, so it may or may not exist. */
  created: 'acknowledged' | 'unknown';
  deleted: 'no' | 'acknowledged' | 'unknown';
  /** The `metadata.rev` of the last acknowledged update (0: none). */
  acknowledgedRev: number;
  /** Revs attempted after it and never acknowledged: any of them may be what the device holds. */
  unresolvedRevs: number[];
}

export interface AcknowledgedPublish {
  sessionIndex: number;
  id: string;
  seq: number;
  /** When (performance.now) the first attempt was sent. */
  sentAt: number;
}

/** A status the API should not have given to a request this workload makes (a harness or API bug). */
export interface Unexpected {
  route: string;
  status: number;
  code: string | undefined;
  note: string;
}

export interface WorkloadState {
  devices: TrackedDevice[];
  acknowledgedPublishes: AcknowledgedPublish[];
  /** Publishes whose every attempt was told to try again: they may or may not have been sent. */
  unresolvedPublishes: Array<{ sessionIndex: number; id: string; lastStatus: number }>;
  unexpected: Unexpected[];
  /** Logical operations (retries included) that ran out of attempts, by operation. */
  gaveUp: Record<string, number>;
  /** Idempotent replays seen (`Idempotent-Replayed: true`), by operation. */
  replays: Record<string, number>;
  /** A page of a list pass repeated a device an earlier page of the same pass had. */
  repeatedInList: number;
}

export function newWorkloadState(): WorkloadState {
  return { devices: [], acknowledgedPublishes: [], unresolvedPublishes: [], unexpected: [], gaveUp: {}, replays: {}, repeatedInList: 0 };
}

export interface WorkloadContext {
  api: SwitchyardClient;
  recorder: Recorder;
  state: WorkloadState;
  /** Prefix of every name and key, unique per run. */
  runId: string;
  /** Whether PATCH / DELETE /v1/devices/{id} document Idempotency-Key (openapi/openapi.json). */
  keyedUpdates: boolean;
  /** Whether to start another operation. */
  running: () => boolean;
}

const OPERATIONS = ['create', 'get', 'update', 'delete', 'list', 'session'] as const;
type Operation = (typeof OPERATIONS)[number];
/** Relative weights: creates outnumber deletes, so the devices each client owns grow through the run. */
const WEIGHTS: Record<Operation, number> = { create: 30, get: 20, update: 20, delete: 10, list: 10, session: 10 };
/** Below this many live devices a client creates rather than pick. */
const MIN_LIVE = 5;
const LIST_PAGE = 50;
const LIST_PAGES = 3;
const PUBLISH_PAUSE_MS = 50;

function count(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}

/** The answered result, or undefined after counting a give-up; counts replays. */
function answered<T>(context: WorkloadContext, operation: string, outcome: Outcome<T>) {
  if (outcome.kind === 'gave-up') {
    count(context.state.gaveUp, operation);
    return undefined;
  }
  if (outcome.result.response.headers.get('idempotent-replayed') === 'true') count(context.state.replays, operation);
  return outcome;
}

function unexpected(context: WorkloadContext, route: string, outcome: { result: { response: Response; error?: unknown } }, note: string) {
  context.state.unexpected.push({ route, status: outcome.result.response.status, code: problemCode(outcome.result.error), note });
}

function pickOperation(live: number): Operation {
  if (live < MIN_LIVE) return 'create';
  const total = OPERATIONS.reduce((sum, operation) => sum + WEIGHTS[operation], 0);
  let roll = Math.random() * total;
  for (const operation of OPERATIONS) {
    roll -= WEIGHTS[operation];
    if (roll < 0) return operation;
  }
  return 'list';
}

class DeviceClient {
  private readonly context: WorkloadContext;
  private readonly label: string;
  private readonly live: TrackedDevice[] = [];
  private serial = 0;
  private rev = 0;

  constructor(context: WorkloadContext, index: number) {
    this.context = context;
    this.label = `${context.runId}-c${index}`;
  }

  async run(): Promise<void> {
    while (this.context.running()) {
      const operation = pickOperation(this.live.length);
      if (operation === 'create') await this.create();
      else if (operation === 'list') await this.list();
      else if (operation === 'session') await this.session();
      else {
        const device = this.live[Math.floor(Math.random() * this.live.length)] as TrackedDevice;
        if (operation === 'get') await this.get(device);
        else if (operation === 'update') await this.update(device);
        else await this.remove(device);
      }
    }
  }

  private key(what: string): string {
    this.serial += 1;
    return `${this.label}-${what}-${this.serial}`;
  }

  private async create(): Promise<void> {
    const name = this.key('device');
    const device: TrackedDevice = { name, id: undefined, created: 'unknown', deleted: 'no', acknowledgedRev: 0, unresolvedRevs: [] };
    this.context.state.devices.push(device);
    const route = 'POST /v1/devices';
    const outcome = answered(
      this.context,
      'create device',
      await withRetries(this.context.recorder, route, (signal) =>
        this.context.api.POST('/v1/devices', {
          body: { name, kind: 'iot', tags: ['soak'], metadata: { rev: 0 } },
          headers: { 'Idempotency-Key': name },
          signal,
        }),
      ),
    );
    if (outcome === undefined) return;
    if (outcome.result.response.status !== 201 || outcome.result.data === undefined) {
      unexpected(this.context, route, outcome, 'create');
      return;
    }
    device.id = outcome.result.data.id;
    device.created = 'acknowledged';
    this.live.push(device);
  }

  private async get(device: TrackedDevice): Promise<void> {
    const route = 'GET /v1/devices/{id}';
    const id = device.id as string;
    const outcome = answered(
      this.context,
      'get device',
      await withRetries(this.context.recorder, route, (signal) =>
        this.context.api.GET('/v1/devices/{id}', { params: { path: { id } }, signal }),
      ),
    );
    if (outcome === undefined) return;
    if (outcome.result.response.status !== 200) unexpected(this.context, route, outcome, `read of ${device.name}, created and not deleted`);
    else if (outcome.result.data?.name !== device.name) unexpected(this.context, route, outcome, `${id} is not ${device.name}`);
  }

  private async update(device: TrackedDevice): Promise<void> {
    const route = 'PATCH /v1/devices/{id}';
    const id = device.id as string;
    this.rev += 1;
    const rev = this.rev;
    const key = this.key('update');
    const outcome = answered(
      this.context,
      'update device',
      await withRetries(this.context.recorder, route, (signal) =>
        this.context.api.PATCH('/v1/devices/{id}', {
          params: { path: { id } },
          body: { metadata: { rev } },
          headers: this.context.keyedUpdates ? { 'Idempotency-Key': key } : {},
          signal,
        }),
      ),
    );
    if (outcome === undefined) {
      device.unresolvedRevs.push(rev);
      return;
    }
    if (outcome.result.response.status !== 200) {
      unexpected(this.context, route, outcome, `update of ${device.name}, created and not deleted`);
      return;
    }
    device.acknowledgedRev = rev;
    device.unresolvedRevs = [];
  }

  private async remove(device: TrackedDevice): Promise<void> {
    const route = 'DELETE /v1/devices/{id}';
    const id = device.id as string;
    this.live.splice(this.live.indexOf(device), 1);
    const key = this.key('delete');
    const outcome = answered(
      this.context,
      'delete device',
      await withRetries(this.context.recorder, route, (signal) =>
        this.context.api.DELETE('/v1/devices/{id}', {
          params: { path: { id } },
          headers: this.context.keyedUpdates ? { 'Idempotency-Key': key } : {},
          signal,
        }),
      ),
    );
    if (outcome === undefined) {
      device.deleted = 'unknown';
      return;
    }
    const { status } = outcome.result.response;
    // Without a key, a retry of a delete that went through before its reply was lost finds nothing.
    if (status === 204 || (status === 404 && outcome.ambiguous && !this.context.keyedUpdates)) device.deleted = 'acknowledged';
    else {
      device.deleted = 'unknown';
      unexpected(this.context, route, outcome, `delete of ${device.name}`);
    }
  }

  private async list(): Promise<void> {
    const route = 'GET /v1/devices';
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < LIST_PAGES; page += 1) {
      const outcome = answered(
        this.context,
        'list devices',
        await withRetries(this.context.recorder, route, (signal) =>
          this.context.api.GET('/v1/devices', { params: { query: { limit: LIST_PAGE, ...(cursor ? { cursor } : {}) } }, signal }),
        ),
      );
      if (outcome === undefined) return;
      const data = outcome.result.data;
      if (outcome.result.response.status !== 200 || data === undefined) {
        unexpected(this.context, route, outcome, 'list page');
        return;
      }
      for (const device of data.data) {
        if (seen.has(device.id)) this.context.state.repeatedInList += 1;
        seen.add(device.id);
      }
      if (data.next_cursor === null) return;
      cursor = data.next_cursor;
    }
  }

  private async session(): Promise<void> {
    const created = answered(
      this.context,
      'create session',
      await withRetries(this.context.recorder, 'POST /v1/sessions', (signal) =>
        this.context.api.POST('/v1/sessions', {
          body: { ttl_seconds: 60, max_connections: 2 },
          headers: { 'Idempotency-Key': this.key('session') },
          signal,
        }),
      ),
    );
    if (created === undefined) return;
    const session = created.result.data;
    if (created.result.response.status !== 201 || session === undefined) {
      unexpected(this.context, 'POST /v1/sessions', created, 'create session');
      return;
    }
    const route = 'POST /v1/sessions/{id}/tokens';
    const token = answered(
      this.context,
      'mint token',
      await withRetries(this.context.recorder, route, (signal) =>
        this.context.api.POST('/v1/sessions/{id}/tokens', {
          params: { path: { id: session.id } },
          body: { participant: 'client:soak', ttl_seconds: 60 },
          headers: { 'Idempotency-Key': this.key('token') },
          signal,
        }),
      ),
    );
    if (token !== undefined && token.result.response.status !== 201) unexpected(this.context, route, token, 'mint token');
  }
}

/** Publishes to one session, back to back, until told to stop. */
async function publishLoop(context: WorkloadContext, sessionIndex: number, sessionId: string): Promise<void> {
  const route = 'POST /v1/sessions/{id}/messages';
  for (let serial = 1; context.running(); serial += 1) {
    const id = `${context.runId}-s${sessionIndex}-m${serial}`;
    const sentAt = performance.now();
    const outcome = await withRetries(context.recorder, route, (signal) =>
      context.api.POST('/v1/sessions/{id}/messages', {
        params: { path: { id: sessionId } },
        body: { payload: { id, serial } },
        headers: { 'Idempotency-Key': id },
        signal,
      }),
    );
    const result = answered(context, 'publish', outcome);
    if (result === undefined) {
      context.state.unresolvedPublishes.push({ sessionIndex, id, lastStatus: outcome.kind === 'gave-up' ? outcome.lastStatus : 0 });
    } else if (result.result.response.status === 202 && result.result.data !== undefined) {
      context.state.acknowledgedPublishes.push({ sessionIndex, id, seq: result.result.data.seq, sentAt });
    } else {
      unexpected(context, route, result, 'publish');
    }
    await sleep(PUBLISH_PAUSE_MS);
  }
}

/** Runs the device clients and one publisher per session until `context.running()` turns false, and every loop has finished its operation. */
export async function runWorkload(context: WorkloadContext, clients: number, sessionIds: string[]): Promise<void> {
  await Promise.all([
    ...Array.from({ length: clients }, (_, index) => new DeviceClient(context, index).run()),
    ...sessionIds.map((sessionId, index) => publishLoop(context, index, sessionId)),
  ]);
}

/** Every device of the organisation, paged through with retries (the chaos build still injects faults). */
export async function listAllDevices(context: Pick<WorkloadContext, 'api' | 'recorder'>): Promise<Device[]> {
  const devices: Device[] = [];
  let cursor: string | undefined;
  for (;;) {
    const outcome = await withRetries(context.recorder, 'GET /v1/devices (verification)', (signal) =>
      context.api.GET('/v1/devices', { params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } }, signal }),
    );
    if (outcome.kind === 'gave-up' || outcome.result.data === undefined) {
      throw new Error(
        `could not list the devices to verify them (status ${outcome.kind === 'gave-up' ? outcome.lastStatus : outcome.result.response.status})`,
      );
    }
    devices.push(...outcome.result.data.data);
    if (outcome.result.data.next_cursor === null) return devices;
    cursor = outcome.result.data.next_cursor;
  }
}
