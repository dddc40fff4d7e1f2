/**
 * What a soak run must show, as pass/fail checks: the API answered every request, failed only in
 * the ways it promises (plain: never; chaos: 503 / 504 problems with Retry-After, never a 500),
 * lost no acknowledged write and made none twice, delivered every acknowledged message to every
 * subscriber once, and its isolate's heap did not grow. workerd's RSS is reported, not judged:
 * under `wrangler dev` it climbs for minutes whatever the Worker (see isolate-heap.ts).
 */
import type { components } from '../../../generated/client.ts';
import { NO_ANSWER, type Recorder } from './http.ts';
import type { TargetName } from './options.ts';
import type { SessionLedger, Subscriber } from './subscribers.ts';
import type { WorkloadState } from './workload.ts';

type Device = components['schemas']['Device'];

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** A breach: the Worker's heap (after a full GC) at the end of the load this much above after the warm-up. */
export const HEAP_GROWTH_LIMIT_PERCENT = 10;

export interface DeviceTally {
  createsAcknowledged: number;
  createsUnresolved: number;
  /** Acknowledged creates with no row (lost writes). */
  missing: string[];
  /** Names with more than one row. */
  duplicated: string[];
  /** Acknowledged deletes whose row is still there. */
  undeleted: string[];
  /** Acknowledged updates the row does not hold. */
  staleUpdates: string[];
  /** Unresolved creates that did commit (told "may have been made", and it was). */
  unresolvedThatExist: number;
  rows: number;
}

export function tallyDevices(state: WorkloadState, rows: Device[]): DeviceTally {
  const byName = new Map<string, Device[]>();
  for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
  const tally: DeviceTally = {
    createsAcknowledged: 0,
    createsUnresolved: 0,
    missing: [],
    duplicated: [...byName].filter(([, found]) => found.length > 1).map(([name]) => name),
    undeleted: [],
    staleUpdates: [],
    unresolvedThatExist: 0,
    rows: rows.length,
  };
  for (const device of state.devices) {
    const found = byName.get(device.name) ?? [];
    if (device.created === 'unknown') {
      tally.createsUnresolved += 1;
      if (found.length > 0) tally.unresolvedThatExist += 1;
      continue;
    }
    tally.createsAcknowledged += 1;
    if (device.deleted === 'acknowledged') {
      if (found.length > 0) tally.undeleted.push(device.name);
      continue;
    }
    if (device.deleted === 'unknown') continue;
    const row = found.find((candidate) => candidate.id === device.id);
    if (row === undefined) {
      tally.missing.push(device.name);
      continue;
    }
    const rev = (row.metadata as { rev?: unknown }).rev;
    const allowed = [device.acknowledgedRev, ...device.unresolvedRevs];
    if (typeof rev !== 'number' || !allowed.includes(rev))
      tally.staleUpdates.push(`${device.name}: holds rev ${String(rev)}, expected ${allowed.join(' or ')}`);
  }
  return tally;
}

export interface MessageTally {
  acknowledged: number;
  unresolved: number;
  /** (acknowledged message, subscriber) pairs where the subscriber was subscribed but never got it. */
  lost: number;
  lostExamples: string[];
  /** Frames a subscriber got a second time. */
  repeats: number;
  /** Publish ids broadcast under more than one seq. */
  duplicatedIds: string[];
  /** A seq carrying two payloads, or an acknowledged seq whose frame carried another id. */
  inconsistent: number;
  gaps: number;
  subscribersGaveUp: number;
  reconnects: number;
  failedConnects: number;
  unexpectedCloses: Record<string, number>;
  /** Unresolved publishes that subscribers did receive. */
  unresolvedDelivered: number;
}

export function tallyMessages(state: WorkloadState, subscribers: Subscriber[], ledgers: SessionLedger[]): MessageTally {
  const tally: MessageTally = {
    acknowledged: state.acknowledgedPublishes.length,
    unresolved: state.unresolvedPublishes.length,
    lost: 0,
    lostExamples: [],
    repeats: 0,
    duplicatedIds: ledgers.flatMap((ledger) => [...ledger.duplicatedIds()].map(([id, seqs]) => `${id} at seqs ${seqs.join(', ')}`)),
    inconsistent: ledgers.reduce((sum, ledger) => sum + ledger.conflicts, 0),
    gaps: 0,
    subscribersGaveUp: 0,
    reconnects: 0,
    failedConnects: 0,
    unexpectedCloses: {},
    unresolvedDelivered: 0,
  };
  for (const subscriber of subscribers) {
    tally.repeats += subscriber.repeats;
    tally.gaps += subscriber.gaps.length;
    tally.reconnects += subscriber.reconnects;
    tally.failedConnects += subscriber.failedConnects;
    if (subscriber.gaveUp) tally.subscribersGaveUp += 1;
    for (const [code, times] of subscriber.unexpectedCloses)
      tally.unexpectedCloses[String(code)] = (tally.unexpectedCloses[String(code)] ?? 0) + times;
  }
  for (const publish of state.acknowledgedPublishes) {
    const seen = ledgers[publish.sessionIndex]?.idAtSeq.get(publish.seq);
    if (seen !== undefined && seen !== publish.id) tally.inconsistent += 1;
    for (const subscriber of subscribers) {
      if (subscriber.sessionIndex !== publish.sessionIndex || subscriber.gaveUp) continue;
      if (subscriber.subscribedAt === undefined || subscriber.subscribedAt > publish.sentAt) continue;
      if (subscriber.received(publish.seq)) continue;
      tally.lost += 1;
      if (tally.lostExamples.length < 10)
        tally.lostExamples.push(`${publish.id} (seq ${publish.seq}) not received by a subscriber of session ${publish.sessionIndex}`);
    }
  }
  const delivered = new Set(ledgers.flatMap((ledger) => [...ledger.idAtSeq.values()]));
  tally.unresolvedDelivered = state.unresolvedPublishes.filter((publish) => delivered.has(publish.id)).length;
  return tally;
}

export interface Growth {
  startMiB: number;
  endMiB: number;
  growthPercent: number;
}

export interface CheckInputs {
  target: TargetName;
  recorder: Recorder;
  state: WorkloadState;
  devices: DeviceTally;
  messages: MessageTally;
  heap: Growth;
  faultsInjected: number;
}

function listed(items: readonly string[], limit = 5): string {
  return items.length <= limit ? items.join('; ') : `${items.slice(0, limit).join('; ')}; … ${items.length - limit} more`;
}

function check(name: string, ok: boolean, detail: string): Check {
  return { name, ok, detail };
}

export function checksFor(inputs: CheckInputs): Check[] {
  const { recorder, state, devices, messages, heap } = inputs;
  const noAnswer = recorder.figures().total.statuses[String(NO_ANSWER)] ?? 0;
  const serverErrors =
    inputs.target === 'plain'
      ? [check('no 5xx', recorder.serverErrorCount === 0, `${recorder.serverErrorCount} responses with a 5xx status`)]
      : [
          check('no 500', recorder.internalErrors === 0, `${recorder.internalErrors} responses were 500`),
          check(
            'every 5xx a 503/504 problem+json with Retry-After',
            recorder.unpromisedServerErrors === 0,
            `${recorder.serverErrorCount} 5xx, ${recorder.unpromisedServerErrors} not as promised`,
          ),
          check('faults were injected', inputs.faultsInjected > 0, `${inputs.faultsInjected} faults in the Worker's log`),
        ];
  const unexpectedDetail = state.unexpected.slice(0, 5).map((item) => `${item.route} → ${item.status} ${item.code ?? ''} (${item.note})`);
  return [
    ...serverErrors,
    check('every request answered', noAnswer === 0, `${noAnswer} requests got no HTTP answer within the client's timeout`),
    check('no unexpected status', state.unexpected.length === 0, state.unexpected.length === 0 ? 'none' : listed(unexpectedDetail)),
    check(
      'every acknowledged create persisted',
      devices.missing.length === 0,
      `${devices.createsAcknowledged} acknowledged, ${devices.missing.length} missing${devices.missing.length ? `: ${listed(devices.missing)}` : ''}`,
    ),
    check(
      'no device created twice',
      devices.duplicated.length === 0,
      `${devices.rows} rows, ${devices.duplicated.length} names with more than one${devices.duplicated.length ? `: ${listed(devices.duplicated)}` : ''}`,
    ),
    check(
      'every acknowledged delete gone',
      devices.undeleted.length === 0,
      `${devices.undeleted.length} still listed${devices.undeleted.length ? `: ${listed(devices.undeleted)}` : ''}`,
    ),
    check(
      'every acknowledged update persisted',
      devices.staleUpdates.length === 0,
      devices.staleUpdates.length === 0 ? 'every live device holds its last acknowledged rev' : listed(devices.staleUpdates),
    ),
    check('list pages never repeat a device', state.repeatedInList === 0, `${state.repeatedInList} repeats within a paging pass`),
    check('every subscriber stayed subscribed', messages.subscribersGaveUp === 0, `${messages.subscribersGaveUp} could not reconnect`),
    check(
      'no acknowledged message lost',
      messages.lost === 0,
      `${messages.acknowledged} acknowledged publishes, ${messages.lost} (message, subscriber) pairs missing${messages.lost ? `: ${listed(messages.lostExamples)}` : ''}`,
    ),
    check('no message delivered twice', messages.repeats === 0, `${messages.repeats} frames repeated`),
    check(
      'no message published twice',
      messages.duplicatedIds.length === 0 && messages.inconsistent === 0,
      `${messages.duplicatedIds.length} publish ids under two seqs, ${messages.inconsistent} inconsistent seqs${messages.duplicatedIds.length ? `: ${listed(messages.duplicatedIds)}` : ''}`,
    ),
    check('no gap in any subscriber’s sequence', messages.gaps === 0, `${messages.gaps} gaps`),
    check(
      `Worker heap growth under ${HEAP_GROWTH_LIMIT_PERCENT} %`,
      Number.isFinite(heap.growthPercent) && heap.growthPercent < HEAP_GROWTH_LIMIT_PERCENT,
      `${heap.startMiB.toFixed(1)} → ${heap.endMiB.toFixed(1)} MiB after a full GC (${heap.growthPercent.toFixed(1)} %)`,
    ),
  ];
}
