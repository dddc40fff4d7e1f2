/**
 * @module
 * The events a handler's change emits (the outbox): the INSERT of the event goes in the change's own
 * D1 batch, so the event commits or rolls back with it, and an idempotent replay, which writes
 * nothing, emits nothing. Every handler's event goes through {@link changeEvent}.
 *
 * Once the batch has committed, {@link dispatchAfterCommit} dispatches the organisation's new events
 * in the background, when the event's INSERT says it awaits dispatch (an organisation without an
 * enabled endpoint has its events written dispatched: db/events.ts): a delivery row for every enabled endpoint subscribed to the type, written with
 * the event's `dispatched_at`, then a queue message per delivery. A Worker that stops between commit
 * and dispatch, or between dispatch and enqueue, leaves undispatched events and unsent deliveries:
 * the minutely sweep (delivery/sweep.ts) finds both.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import { dispatchEvents, QUEUE_SEND_BATCH } from '../db/event-dispatch.ts';
import * as events from '../db/events.ts';
import { guardD1 } from '../db/guarded-d1.ts';
import { loadConfig } from '../env.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import type { Logger } from '../lib/logger.ts';
import { type EmittedEventType, type EventData, MAX_EVENT_DATA_BYTES } from '../schemas/events.ts';

/**
 * The INSERT of the event `type` carrying `data` (the object as the answer presents it), for the
 * change's batch. With `onlyIfChanged`, it is written only if the statement before it changed a row;
 * `eventId` names it when the change refers to it in the same batch.
 * An object too big for an event refuses the change (413) before anything is written: an event
 * carries its object whole, and no change may be without its event.
 */
export function changeEvent<Type extends EmittedEventType>(
  c: Context<AppEnv>,
  type: Type,
  data: EventData<Type>,
  at: string,
  options: { onlyIfChanged?: boolean; eventId?: string } = {},
): D1PreparedStatement {
  const text = JSON.stringify(data);
  const bytes = new TextEncoder().encode(text).byteLength;
  if (bytes > MAX_EVENT_DATA_BYTES) {
    const object = type.slice(0, type.indexOf('.')).replace('_', ' ');
    throw new ApiError('payload_too_large', {
      detail: `The ${object} would take ${bytes.toLocaleString('en')} bytes as JSON, over the ${MAX_EVENT_DATA_BYTES / 1024} KiB its event may carry: shorten its data.`,
    });
  }
  const event = { id: options.eventId ?? newId('event'), orgId: c.get('auth').orgId, type, data: text, createdAt: at };
  const statement = events.insertEvent(c.get('config').db, event, options);
  c.set('eventInsert', statement);
  return statement;
}

/** What the committed batch said of its event: written undispatched, written dispatched, or not written. */
function eventAwaitsDispatch(eventInsert: D1PreparedStatement, committed: CommittedBatch): boolean {
  const index = committed.statements.indexOf(eventInsert);
  const row = committed.results[index]?.results[0] as Record<string, unknown> | undefined;
  return row?.[events.AWAITS_DISPATCH] === 1;
}

/** A change's statements and their results, in order. */
export interface CommittedBatch {
  statements: readonly D1PreparedStatement[];
  results: readonly D1Result[];
}

/**
 * After a committed change that wrote an event awaiting dispatch: dispatches the organisation's
 * events in the background (the response does not wait), on a database handle without the
 * request's deadline. Without the batch's results (its reply was lost after it committed), any
 * event the change wrote is dispatched. A failure is logged; the sweep dispatches what it left.
 */
export function dispatchAfterCommit(c: Context<AppEnv>, committed?: CommittedBatch): void {
  const eventInsert = c.get('eventInsert');
  if (eventInsert === undefined) return;
  c.set('eventInsert', undefined);
  if (committed !== undefined && !eventAwaitsDispatch(eventInsert, committed)) return;
  const loaded = loadConfig(c.env);
  if (!loaded.ok) return;
  const logger: Logger = c.get('logger');
  const orgId = c.get('auth').orgId;
  const config = { ...loaded.config, db: guardD1(loaded.config.db, { telemetry: c.get('telemetry') }) };
  c.executionCtx.waitUntil(
    dispatchEvents(config, { orgId }).then(
      () => undefined,
      (error: unknown) => logger.warn('could not dispatch events; the sweep will', { error }),
    ),
  );
}

/**
 * After a change that made deliveries due now (a resend, a recovery, a test): sends their queue
 * messages in the background. A message that is not sent leaves its delivery overdue, and the sweep
 * sends it; one sent twice is attempted once (the consumer leases the delivery).
 */
export function enqueueDeliveries(c: Context<AppEnv>, deliveryIds: readonly string[]): void {
  if (deliveryIds.length === 0) return;
  const queue = c.get('config').webhookQueue;
  const logger: Logger = c.get('logger');
  const send = async () => {
    for (let start = 0; start < deliveryIds.length; start += QUEUE_SEND_BATCH) {
      await queue.sendBatch(deliveryIds.slice(start, start + QUEUE_SEND_BATCH).map((deliveryId) => ({ body: { deliveryId } })));
    }
  };
  c.executionCtx.waitUntil(send().catch((error: unknown) => logger.warn('could not enqueue deliveries; the sweep will', { error })));
}
