/**
 * @module
 * What a key may read of the events: `events:read` opens the list, and each event type needs the
 * scope that reads its object (EVENT_TYPE_SCOPES), so events never show a key more than the objects'
 * own routes would. An event of a type the key may not read is refused, like an endpoint receiving it.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import { ApiError } from '../../errors.ts';
import { isoAfter } from '../../lib/clock.ts';
import { EMITTED_EVENT_TYPES, type EmittedEventType, EVENT_RETENTION_DAYS } from '../../schemas/events.ts';
import { EVENT_TYPE_SCOPES } from '../../schemas/webhook-events.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** 403 `insufficient_scope` unless the caller holds the scope that reads events of `type`. */
export function requireEventTypeReadable(c: Context<AppEnv>, type: EmittedEventType): void {
  const scope = EVENT_TYPE_SCOPES[type];
  if (!c.get('auth').scopes.includes(scope)) {
    throw new ApiError('insufficient_scope', {
      detail: `Reading \`${type}\` events takes the \`${scope}\` scope, which this API key lacks.`,
      security: { reason: 'event_type_scope', details: { scope, event_type: type } },
    });
  }
}

/** The types to list: `type` if the caller may read it (else 403), or every type it may read. */
export function readableEventTypes(c: Context<AppEnv>, type: EmittedEventType | undefined): EmittedEventType[] {
  if (type !== undefined) {
    requireEventTypeReadable(c, type);
    return [type];
  }
  const held = c.get('auth').scopes;
  return EMITTED_EVENT_TYPES.filter((candidate) => held.includes(EVENT_TYPE_SCOPES[candidate]));
}

/** The earliest time to list from: `since`, but never before the retention window (what is older may be purged already). */
export function retainedSince(since: string | undefined, now = new Date()): string {
  const oldestKept = isoAfter(-EVENT_RETENTION_DAYS * DAY_MS, now);
  return since === undefined || since < oldestKept ? oldestKept : since;
}
