/**
 * What each scenario measures, against which reference, and the budget it is held to. Budgets
 * are ratios of medians over rounds (Switchyard ÷ reference), from the performance issue.
 */
import type { ScenarioId } from './options.ts';

export type SideKey = 'ours' | 'reference' | 'bare-ok';
export type TargetName = 'switchyard' | 'switchyard-realtime' | 'bare-hono' | 'bare-ok' | 'bare-broadcast';

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
  /** Which figure: throughput ratio (≥ limit) or p99 ratio (≤ limit). */
  figure: 'throughput' | 'p99';
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
const BARE_HONO: SideSpec = { key: 'reference', target: 'bare-hono', label: 'bare Hono' };
const BARE_HONO_D1: SideSpec = { key: 'reference', target: 'bare-hono', label: 'bare Hono + same query' };

export const SCENARIOS: ScenarioSpec[] = [
  {
    id: 'health',
    title: 'GET /health',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [OURS, BARE_HONO, { key: 'bare-ok', target: 'bare-ok', label: "bare fetch → 'ok'", informational: true }],
    budgets: [{ id: 'health', description: 'GET /health req/s ÷ bare Hono', figure: 'throughput', limit: 0.85 }],
    meaning:
      'the whole global middleware chain vs a bare Hono Worker returning the same JSON (and, for information, a bare `fetch` returning `ok`)',
  },
  {
    id: 'device-read',
    title: 'GET /v1/devices/{id}',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [OURS, BARE_HONO_D1],
    budgets: [
      { id: 'device-read', description: 'GET /v1/devices/{id} req/s ÷ bare Hono + D1 read', figure: 'throughput', limit: 0.7 },
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
      { id: 'device-list', description: 'GET /v1/devices?limit=50 req/s ÷ bare Hono + same query', figure: 'throughput', limit: 0.75 },
    ],
    meaning: 'a page of 50 devices vs a bare Hono Worker running the same `listDevices` query',
  },
  {
    id: 'device-create',
    title: 'POST /v1/devices (Idempotency-Key)',
    kind: 'http',
    unit: 'req/s',
    per: 'req',
    sides: [OURS, { key: 'reference', target: 'bare-hono', label: 'bare Hono + same INSERT' }],
    budgets: [{ id: 'device-create', description: 'POST /v1/devices req/s ÷ bare insert', figure: 'throughput', limit: 0.6 }],
    meaning:
      'validated, idempotent create (idempotency record, device and audit row in one batch) vs a bare Hono Worker running the same `insertDevice` statement alone',
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
    budgets: [{ id: 'fan-out', description: 'fan-out deliveries/s ÷ bare DO broadcast', figure: 'throughput', limit: 0.8 }],
    meaning:
      'one publisher, N subscribers on one session (sequenced, persisted, validated) vs a bare hibernating Durable Object that loops `send` to every other socket',
  },
];

/** Bundle budget: the minified Worker, gzipped. */
export const BUNDLE_BUDGET_KIB = 250;
