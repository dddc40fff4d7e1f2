/**
 * Every scenario in one place: what it measures, against which reference, the budget it is held
 * to, and the requests and rooms both sides get. Budgets are ratios of medians over rounds
 * (Switchyard ÷ reference) of CPU time per operation, which moves far less than requests/s on a
 * shared machine, and of p99 latency, from the performance issue.
 */
import { randomBytes } from 'node:crypto';
import { createSwitchyardClient, sessionSocketProtocols, sessionSocketUrl } from '../../../generated/client.ts';
import { MAX_FRAMES_PER_SECOND } from '../../../src/schemas/realtime.ts';
import type { FanOutRoom } from './fan-out.ts';
import type { HttpRequestSpec } from './http-load.ts';
import type { ScenarioId } from './options.ts';
import { SEEDED_DEVICES, type Seed } from './seed.ts';

export type SideKey = 'ours' | 'reference' | 'bare-hono' | 'bare-ok' | 'bare-batch';
export type TargetName =
  | 'switchyard'
  | 'switchyard-realtime'
  | 'bare-hono'
  | 'bare-hono-log'
  | 'bare-hono-batch'
  | 'bare-ok'
  | 'bare-broadcast';

export interface SideSpec {
  key: SideKey;
  target: TargetName;
  label: string;
  /** Shown for information; no budget uses it. */
  informational?: boolean;
}

export interface BudgetSpec {
  id: string;
  description: string;
  /** Which figure: CPU per operation ratio or p99 ratio; both must stay ≤ limit. */
  figure: 'cpu' | 'p99';
  limit: number;
}

export interface ScenarioSpec {
  id: ScenarioId;
  title: string;
  kind: 'http' | 'fan-out';
  /** Unit of the throughput figure. */
  unit: 'req/s' | 'deliveries/s';
  /** What one CPU figure is per. */
  per: 'req' | 'frame';
  sides: SideSpec[];
  budgets: BudgetSpec[];
  /** One line on what is compared, for the README and the report. */
  meaning: string;
}

const OURS: SideSpec = { key: 'ours', target: 'switchyard', label: 'Switchyard' };
const BARE_HONO_D1: SideSpec = { key: 'reference', target: 'bare-hono', label: 'bare Hono + same query' };

export const SCENARIOS: ScenarioSpec[] = [
  {
    id: 'health',
    title: 'GET /health',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [
      OURS,
      { key: 'reference', target: 'bare-hono-log', label: 'bare Hono + same log line' },
      { key: 'bare-hono', target: 'bare-hono', label: 'bare Hono', informational: true },
      { key: 'bare-ok', target: 'bare-ok', label: "bare fetch → 'ok'", informational: true },
    ],
    budgets: [{ id: 'health', description: 'GET /health CPU per request ÷ bare Hono + same log line', figure: 'cpu', limit: 1.18 }],
    meaning:
      'the whole global middleware chain vs a bare Hono Worker returning the same JSON and writing one JSON log line of the same size (and, for information, bare Hono without it and a bare `fetch` returning `ok`)',
  },
  {
    id: 'device-read',
    title: 'GET /v1/devices/{id}',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [OURS, BARE_HONO_D1],
    budgets: [
      { id: 'device-read', description: 'GET /v1/devices/{id} CPU per request ÷ bare Hono + D1 read', figure: 'cpu', limit: 1.25 },
      { id: 'device-read-p99', description: 'GET /v1/devices/{id} p99 ÷ bare Hono + D1 read p99', figure: 'p99', limit: 1.5 },
    ],
    meaning: 'authenticated, rate-limited read of a real D1 row vs a bare Hono Worker running the same `getDevice` query',
  },
  {
    id: 'device-list',
    title: 'GET /v1/devices?limit=50',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [OURS, BARE_HONO_D1],
    budgets: [
      { id: 'device-list', description: 'GET /v1/devices?limit=50 CPU per request ÷ bare Hono + same query', figure: 'cpu', limit: 1.15 },
    ],
    meaning: 'a page of 50 devices vs a bare Hono Worker running the same `listDevices` query',
  },
  {
    id: 'device-create',
    title: 'POST /v1/devices (Idempotency-Key)',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [
      OURS,
      { key: 'reference', target: 'bare-hono', label: 'bare Hono + same INSERT' },
      { key: 'bare-batch', target: 'bare-hono-batch', label: 'bare Hono + same 4-statement batch', informational: true },
    ],
    budgets: [{ id: 'device-create', description: 'POST /v1/devices CPU per request ÷ bare insert', figure: 'cpu', limit: 1.5 }],
    meaning:
      'validated, idempotent create (idempotency record, device, audit row and event in one batch) vs a bare Hono Worker running the same `insertDevice` statement alone (and, for information, the same four statements as one batch)',
  },
  {
    id: 'fan-out',
    title: 'WebSocket fan-out',
    kind: 'fan-out',
    unit: 'deliveries/s',
    per: 'frame',
    sides: [
      { key: 'ours', target: 'switchyard-realtime', label: 'Switchyard' },
      { key: 'reference', target: 'bare-broadcast', label: 'bare DO broadcast' },
    ],
    budgets: [{ id: 'fan-out', description: 'fan-out CPU per delivered frame ÷ bare DO broadcast', figure: 'cpu', limit: 1.15 }],
    meaning:
      'one publisher, N subscribers on one session (sequenced, persisted, validated) vs a bare hibernating Durable Object that loops `send` to every other socket',
  },
];

/** Bundle budget: the minified Worker, gzipped. */
export const BUNDLE_BUDGET_KIB = 120;

/** Switchyard answered with errors: the scenario stops and its budgets fail; the others go on. */
export class ScenarioFailure extends Error {}

const CREATE_BODY = JSON.stringify({
  name: 'Benchmark kiosk',
  kind: 'iot',
  metadata: { floor: 3, model: 'Pixel 9', kiosk: true },
  tags: ['lobby', 'floor:3'],
});

/** The request of an HTTP scenario: both sides get the same bytes; the references ignore what they do not use. */
export function httpRequest(id: ScenarioId, seed: Seed): HttpRequestSpec {
  const auth = { authorization: `Bearer ${seed.apiKey}` };
  const readId = seed.devices[Math.floor(SEEDED_DEVICES / 2)]?.id as string;
  switch (id) {
    case 'health':
      return { method: 'GET', path: '/health', headers: {}, expectStatus: 200 };
    case 'device-read':
      return { method: 'GET', path: `/v1/devices/${readId}`, headers: auth, expectStatus: 200 };
    case 'device-list':
      return { method: 'GET', path: '/v1/devices?limit=50', headers: auth, expectStatus: 200 };
    case 'device-create':
      return {
        method: 'POST',
        path: '/v1/devices',
        headers: { ...auth, 'content-type': 'application/json' },
        body: CREATE_BODY,
        freshIdempotencyKey: true,
        expectStatus: 201,
      };
    default:
      throw new Error(`${id} is not an HTTP scenario`);
  }
}

type SwitchyardClient = ReturnType<typeof createSwitchyardClient>;

/** One connect token per participant, ten requests at a time. */
async function mintTokens(api: SwitchyardClient, sessionId: string, participants: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let first = 0; first < participants; first += 10) {
    const batch = [];
    for (let index = first; index < Math.min(participants, first + 10); index += 1) {
      batch.push(
        api.POST('/v1/sessions/{id}/tokens', {
          params: { path: { id: sessionId } },
          body: { participant: `client:bench-${index}`, ttl_seconds: 900 },
        }),
      );
    }
    for (const minted of await Promise.all(batch)) {
      if (!minted.data)
        throw new ScenarioFailure(`minting a connect token answered ${minted.response.status}: ${JSON.stringify(minted.error)}`);
      tokens.push(minted.data.token);
    }
  }
  return tokens;
}

/** A Switchyard session for 1 publisher + N subscribers, through the generated client. */
export async function switchyardRoom(base: URL, seed: Seed, subscribers: number): Promise<FanOutRoom> {
  const api = createSwitchyardClient({ baseUrl: base.origin, apiKey: seed.apiKey });
  // The publisher sends as fast as its window allows, so the session lets a socket send the most frames a second a
  // session may allow (the default, 50, would measure the rate limit instead of the fan-out).
  const created = await api.POST('/v1/sessions', {
    body: { max_connections: subscribers + 1, ttl_seconds: 3600, frames_per_second: MAX_FRAMES_PER_SECOND },
  });
  if (!created.data) throw new ScenarioFailure(`POST /v1/sessions answered ${created.response.status}: ${JSON.stringify(created.error)}`);
  const sessionId = created.data.id;
  const tokens = await mintTokens(api, sessionId, subscribers + 1);
  // The URL and subprotocols openSessionSocket (generated/client.ts) uses: the token travels as a subprotocol.
  const url = sessionSocketUrl({ baseUrl: base, sessionId });
  return {
    endpoint: (index) => ({ url, protocols: sessionSocketProtocols(tokens[index] as string) }),
    end: async () => {
      const ended = await api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
      if (!ended.data) throw new ScenarioFailure(`ending the session answered ${ended.response.status}: ${JSON.stringify(ended.error)}`);
    },
  };
}

/** A fresh room of the bare broadcast reference. */
export function bareRoom(base: URL): FanOutRoom {
  const url = new URL(`/rooms/${randomBytes(8).toString('hex')}`, base);
  url.protocol = 'ws:';
  return { endpoint: () => ({ url, protocols: [] }), end: async () => undefined };
}
