/**
 * @module
 * Events as the API shows them: the envelope, and the object as it was presented when the change was made.
 */
import type { z } from '@hono/zod-openapi';
import type * as events from '../../db/events.ts';
import type { EventSchema } from '../../schemas/events.ts';

export function presentEvent(event: events.EventRecord): z.infer<typeof EventSchema> {
  // `data` was written from the typed presentation of its type (routes/outbox.ts) and is returned as stored.
  return { id: event.id, type: event.type, created_at: event.createdAt, data: event.data } as z.infer<typeof EventSchema>;
}
