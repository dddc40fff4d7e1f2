/**
 * @module
 * The session's room (its Durable Object), and what the Worker makes of the room's refusals.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import type { SessionRoom } from '../../durable-objects/session-room.ts';
import type { JoinRefusal } from '../../durable-objects/session-room-protocol.ts';
import { ApiError } from '../../errors.ts';

export function roomFor(c: Context<AppEnv>, sessionId: string): DurableObjectStub<SessionRoom> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  const namespace = c.get('config').sessionRooms as unknown as DurableObjectNamespace<SessionRoom>;
  return namespace.get(namespace.idFromName(sessionId));
}

export function refusalError(refusal: JoinRefusal | null, sessionId: string): ApiError {
  if (refusal === 'session_full')
    return new ApiError('session_full', { detail: `Session ${sessionId} has as many participants as it allows.` });
  return new ApiError('session_ended', { detail: `Session ${sessionId} has ended.` });
}
