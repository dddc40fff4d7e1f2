/**
 * @module
 * The minutely webhook sweep (the `* * * * *` cron): what a Worker left behind when it stopped at
 * the wrong moment. Events committed but never dispatched (it stopped between the commit and the
 * dispatch) are dispatched; pending deliveries long overdue with no consumer holding them (it
 * stopped between the dispatch and the enqueue, or a message was lost) are sent to the queue again.
 * A message sent twice is attempted once: the consumer leases the delivery.
 */

import { dispatchEvents } from '../db/event-dispatch.ts';
import * as webhookDeliveries from '../db/webhook-deliveries.ts';
import type { Config } from '../env.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeliveryMessage } from '../schemas/webhook-attempts.ts';

/** The minutely cron (wrangler.toml) that runs the sweep; any other is the hourly retention run. (Not exported by the entry: workerd takes only handlers from it.) */
export const SWEEP_CRON = '* * * * *';

/** An event younger than this is left to the dispatch that follows its own commit. */
export const UNDISPATCHED_AFTER_MS = 30_000;
/** A delivery overdue by more than this has lost its message: a queue's delays are late by seconds, not minutes. */
export const OVERDUE_AFTER_MS = 5 * 60_000;
/** Dispatch batches per run (50 events each), and overdue deliveries sent again per run. */
const MAX_DISPATCH_BATCHES = 10;
const MAX_RESENT = 500;

export async function sweepWebhooks(config: Config, logger: Logger, now: Date): Promise<void> {
  const at = now.getTime();
  try {
    let dispatched = 0;
    let messages = 0;
    for (let batch = 0; batch < MAX_DISPATCH_BATCHES; batch += 1) {
      const result = await dispatchEvents(config, { writtenBefore: new Date(at - UNDISPATCHED_AFTER_MS).toISOString() });
      dispatched += result.events;
      messages += result.messages;
      if (result.events === 0) break;
    }
    const overdue = await webhookDeliveries.overdueDeliveries(
      config.db,
      new Date(at - OVERDUE_AFTER_MS).toISOString(),
      now.toISOString(),
      MAX_RESENT,
    );
    const resend: MessageSendRequest<DeliveryMessage>[] = overdue.map((delivery) => ({ body: { deliveryId: delivery.id } }));
    for (let start = 0; start < resend.length; start += 100) await config.webhookQueue.sendBatch(resend.slice(start, start + 100));
    const counts = { events_dispatched: dispatched, messages_sent: messages, overdue_resent: resend.length };
    if (dispatched > 0 || resend.length > 0) logger.warn('webhook sweep: dispatched what was left behind', counts);
    else logger.debug('webhook sweep: nothing left behind', counts);
  } catch (error) {
    logger.error('webhook sweep failed; the next minute retries', { error });
  }
}
