/**
 * @module
 * The events a handler's change emits (the outbox): the INSERT of the event goes in the change's own
 * D1 batch, so the event commits or rolls back with it, and an idempotent replay, which writes
 * nothing, emits nothing. Every handler's event goes through {@link changeEvent}.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import * as events from '../db/events.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import { type EmittedEventType, type EventData, MAX_EVENT_DATA_BYTES } from '../schemas/events.ts';

/**
 * The INSERT of the event `type` carrying `data` (the object as the answer presents it), for the
 * change's batch. With `onlyIfChanged`, it is written only if the statement before it changed a row.
 * An object too big for an event refuses the change (413) before anything is written: an event
 * carries its object whole, and no change may be without its event.
 */
export function changeEvent<Type extends EmittedEventType>(
  c: Context<AppEnv>,
  type: Type,
  data: EventData<Type>,
  at: string,
  options: { onlyIfChanged?: boolean } = {},
): D1PreparedStatement {
  const text = JSON.stringify(data);
  const bytes = new TextEncoder().encode(text).byteLength;
  if (bytes > MAX_EVENT_DATA_BYTES) {
    const object = type.slice(0, type.indexOf('.')).replace('_', ' ');
    throw new ApiError('payload_too_large', {
      detail: `The ${object} would take ${bytes.toLocaleString('en')} bytes as JSON, over the ${MAX_EVENT_DATA_BYTES / 1024} KiB its event may carry: shorten its data.`,
    });
  }
  const event = { id: newId('event'), orgId: c.get('auth').orgId, type, data: text, createdAt: at };
  return events.insertEvent(c.get('config').db, event, options);
}
