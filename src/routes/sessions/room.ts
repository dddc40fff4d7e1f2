/**
 * @module
 * The session's room (its Durable Object), and what the Worker makes of the room's refusals.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import * as deviceConnections from '../../db/device-connections.ts';
import type { SessionRoom } from '../../durable-objects/session-room.ts';
import type { JoinRefusal } from '../../durable-objects/session-room-protocol.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';

export function roomFor(c: Context<AppEnv>, sessionId: string): DurableObjectStub<SessionRoom> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  const namespace = c.get('config').sessionRooms as unknown as DurableObjectNamespace<SessionRoom>;
  return namespace.get(namespace.idFromName(sessionId));
}

export function refusalError(refusal: JoinRefusal | null, sessionId: string): ApiError {
  if (refusal === 'participant_not_allowed')
    return new ApiError('participant_not_allowed', { detail: `The participant was removed from session ${sessionId}.` });
  if (refusal === 'session_full')
    return new ApiError('session_full', { detail: `Session ${sessionId} has as many participants as it allows.` });
  return new ApiError('session_ended', { detail: `Session ${sessionId} has ended.` });
}

/** The version a deleted device is barred at: above any version it had, and it never comes back. */
const DELETED_DEVICE_VERSION = Number.MAX_SAFE_INTEGER;

/**
 * Closes the device's sockets in every open session it has connected to, and bars it from joining
 * them on a read of the device older than `version` (the disabling change; omitted, the deletion).
 * Called after the change is committed. A room that cannot be reached is logged; the device's
 * next connection is refused anyway, since connect reads the device again.
 */
export async function disconnectDevice(c: Context<AppEnv>, deviceId: string, version = DELETED_DEVICE_VERSION): Promise<void> {
  const { orgId } = c.get('auth');
  const sessionIds = await deviceConnections.openSessionsOfDevice(c.get('config').db, orgId, deviceId, nowIso());
  const results = await Promise.allSettled(sessionIds.map((sessionId) => roomFor(c, sessionId).removeParticipant(deviceId, version)));
  results.forEach((result, index) => {
    if (result.status === 'rejected') {
      c.get('logger').warn("could not close a removed device's sockets", {
        device_id: deviceId,
        session_id: sessionIds[index],
        error: result.reason,
      });
    }
  });
}
