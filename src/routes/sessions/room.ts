/**
 * @module
 * The session's room (its Durable Object), and what the Worker makes of the room's refusals.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import * as deviceConnections from '../../db/device-connections.ts';
import * as sessionKeyGrants from '../../db/session-key-grants.ts';
import type * as sessions from '../../db/sessions.ts';
import type { SessionRoom } from '../../durable-objects/session-room.ts';
import type { JoinRefusal, RoomSettings } from '../../durable-objects/session-room-protocol.ts';
import { ApiError, dependencyProblem } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { breakerFor, breakerStates, guardedCall, isRetryableObjectError } from '../../lib/resilience.ts';
import type { TokenRejection } from '../../lib/session-token.ts';

function roomsOf(c: Context<AppEnv>): DurableObjectNamespace<SessionRoom> {
  // env.ts checks the binding's shape only; its class is fixed by wrangler.toml.
  return c.get('config').sessionRooms as unknown as DurableObjectNamespace<SessionRoom>;
}

function roomFor(c: Context<AppEnv>, sessionId: string): DurableObjectStub<SessionRoom> {
  const namespace = roomsOf(c);
  return namespace.get(namespace.idFromName(sessionId));
}

/** What the session's room enforces, from its D1 row: passed with every join, publish and history read. */
export function roomSettingsOf(session: sessions.SessionRecord): RoomSettings {
  return {
    expiresAt: session.expiresAt,
    maxParticipants: session.maxParticipants,
    maxFrameBytes: session.maxFrameBytes,
    framesPerSecond: session.framesPerSecond,
    presenceGraceSeconds: session.presenceGraceSeconds,
    historyMaxMessages: session.historyMaxMessages,
    historyMaxAgeSeconds: session.historyMaxAgeSeconds,
    orgId: session.orgId,
    sessionId: session.id,
  };
}

/** One call to a room: the room answers from memory and its own storage, so 2 s means it is stuck. */
export const ROOM_CALL_TIMEOUT_MS = 2_000;
export const ROOM_BREAKER = { failureThreshold: 5, openMs: 5_000 } as const;

interface RoomCallOptions {
  /** Whether the call may be made twice (reads, and calls that are idempotent in the room: end, remove, revoke a key). */
  repeatable: boolean;
  /** What may have happened anyway when it fails, for the client (a message sent). */
  effect?: string;
}

/**
 * Calls the session's room under a deadline and the room's own breaker (one room failing does not
 * pause the others); a repeatable call is made once more, on a fresh stub, after a retryable error.
 * A failure is a 503 / 504 problem with `Retry-After`, never a 500.
 */
export async function callRoom<T>(
  c: Context<AppEnv>,
  sessionId: string,
  call: (room: DurableObjectStub<SessionRoom>) => Promise<T>,
  options: RoomCallOptions,
): Promise<T> {
  const label = `SessionRoom ${sessionId}`;
  try {
    return await guardedCall(() => call(roomFor(c, sessionId)), {
      label,
      timeoutMs: ROOM_CALL_TIMEOUT_MS,
      budgetMs: 2 * ROOM_CALL_TIMEOUT_MS,
      retry: { attempts: options.repeatable ? 2 : 1, baseDelayMs: 20, maxDelayMs: 100 },
      isTransient: isRetryableObjectError,
      // The room's own refusals are answers, not errors: anything thrown is the room failing.
      isFailure: () => true,
      breaker: breakerFor(roomsOf(c), label, ROOM_BREAKER),
      deadlineAt: c.get('deadlineAt'),
      telemetry: c.get('telemetry'),
      // One breaker per room, counted as one dependency: which room is in the request's metric.
      dependency: 'SessionRoom',
    });
  } catch (error) {
    throw dependencyProblem(`The session's room`, error, options.effect);
  }
}

/**
 * For `/ready`: how many rooms' circuits this isolate holds open, and a call that reaches a room
 * (one probe object stands for the namespace) without touching any session or breaker.
 */
export function roomsReadiness(c: Context<AppEnv>, probeName: string): { openCircuits: number; ping: () => Promise<unknown> } {
  const namespace = roomsOf(c);
  return { openCircuits: breakerStates(namespace).open, ping: () => namespace.get(namespace.idFromName(probeName)).ping() };
}

/** Why a connect token was refused, for the security event: the client is told none of it. */
export type TokenRefusal = TokenRejection | 'missing' | 'session_not_found' | 'key_not_in_force' | 'token_revoked';

/** The one answer to every connect token that cannot open a socket, whatever is wrong with it. */
export function invalidTokenError(reason: TokenRefusal): ApiError {
  return new ApiError('invalid_token', {
    detail: 'The connect token is missing, invalid, expired or for another session; mint a new one.',
    headers: { 'WWW-Authenticate': 'Bearer realm="switchyard", error="invalid_token"' },
    security: { reason },
  });
}

export function refusalError(refusal: JoinRefusal | null, sessionId: string): ApiError {
  // The key that minted the token was revoked after connect read it: the answer of any bad token.
  if (refusal === 'token_revoked') return invalidTokenError('token_revoked');
  if (refusal === 'participant_not_allowed')
    return new ApiError('participant_not_allowed', { detail: `The participant was removed from session ${sessionId}.` });
  if (refusal === 'session_full')
    return new ApiError('session_full', { detail: `Session ${sessionId} has as many participants as it allows.` });
  return new ApiError('session_ended', { detail: `Session ${sessionId} has ended.` });
}

/** The version a deleted device is barred at: above any version it had, and it never comes back. */
const DELETED_DEVICE_VERSION = Number.MAX_SAFE_INTEGER;

/** Sockets a committed change must close, and where: see {@link closeSockets}. */
interface SocketsToClose {
  /** Whose sockets, for the log lines: "a removed device's". */
  whose: string;
  /** What identifies them in the log lines: `{ device_id }`. */
  logFields: Record<string, string>;
  /** The open sessions that may hold them. */
  sessions: () => Promise<string[]>;
  /** The room call that closes them; repeatable (idempotent in the room). */
  close: (room: DurableObjectStub<SessionRoom>) => Promise<unknown>;
}

/**
 * Runs `close` in the room of every session listed. Called after the change is committed, so it
 * never fails: a session list or a room that cannot be reached is logged. The change is committed
 * (and under an atomic key its answer saved): failing now would answer 503 for a change that was
 * made, and connect checks again what the change took away, so nobody gets back in anyway.
 */
async function closeSockets(c: Context<AppEnv>, sockets: SocketsToClose): Promise<void> {
  let sessionIds: string[];
  try {
    sessionIds = await sockets.sessions();
  } catch (error) {
    c.get('logger').warn(`could not find ${sockets.whose} sessions`, { ...sockets.logFields, error });
    return;
  }
  const results = await Promise.allSettled(sessionIds.map((sessionId) => callRoom(c, sessionId, sockets.close, { repeatable: true })));
  results.forEach((result, index) => {
    if (result.status === 'rejected') {
      c.get('logger').warn(`could not close ${sockets.whose} sockets`, {
        ...sockets.logFields,
        session_id: sessionIds[index],
        error: result.reason,
      });
    }
  });
}

/**
 * Closes the device's sockets in every open session it has connected to, and bars it from joining
 * them on a read of the device older than `version` (the disabling change; omitted, the deletion).
 * Never fails (see {@link closeSockets}): the device's next connection is refused anyway, since
 * connect reads the device again.
 */
export function disconnectDevice(c: Context<AppEnv>, deviceId: string, version = DELETED_DEVICE_VERSION): Promise<void> {
  const { orgId } = c.get('auth');
  return closeSockets(c, {
    whose: "a removed device's",
    logFields: { device_id: deviceId },
    sessions: () => deviceConnections.openSessionsOfDevice(c.get('config').db, orgId, deviceId, nowIso()),
    close: (room) => room.removeParticipant(deviceId, version),
  });
}

/**
 * Closes the sockets opened with tokens the key minted (4004), in every open session it minted
 * tokens for, and bars joins authorised by them. Never fails (see {@link closeSockets}): a token of
 * the key is refused at connect anyway, since connect reads the key again.
 */
export function disconnectApiKey(c: Context<AppEnv>, apiKeyId: string): Promise<void> {
  const { orgId } = c.get('auth');
  return closeSockets(c, {
    whose: "a revoked API key's",
    // `key_id`: the log redaction blanks any field named like `api_key`.
    logFields: { key_id: apiKeyId },
    sessions: () => sessionKeyGrants.openSessionsOfApiKey(c.get('config').db, orgId, apiKeyId, nowIso()),
    close: (room) => room.revokeApiKey(apiKeyId),
  });
}
