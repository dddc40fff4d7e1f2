/**
 * @module
 * How the Worker hands an authenticated WebSocket upgrade to a SessionRoom, and how the room says
 * no. Kept apart from the Durable Object class so that modules which run outside the Workers
 * runtime (the spec emitter) can import it.
 */

/** What the Worker tells the room about a connection it has already authenticated. */
export interface JoinRequest {
  participant: string;
  expiresAt: string;
  maxParticipants: number;
  lastSeq: number | undefined;
  protocol: string | undefined;
  /** For a device participant: the version of the device record that allowed it in. */
  deviceVersion: number | undefined;
}

/** Why a join was refused; the Worker turns it into a problem response. */
export type JoinRefusal = 'session_ended' | 'session_full' | 'participant_not_allowed';

export const JOIN_REFUSAL_HEADER = 'X-Switchyard-Refusal';

const JOIN_HEADERS = {
  participant: 'X-Switchyard-Participant',
  expiresAt: 'X-Switchyard-Expires-At',
  maxParticipants: 'X-Switchyard-Max-Participants',
  lastSeq: 'X-Switchyard-Last-Seq',
  protocol: 'X-Switchyard-Protocol',
  deviceVersion: 'X-Switchyard-Device-Version',
} as const;

/** Headers for the forwarded upgrade request. */
export function joinHeaders(join: JoinRequest): Record<string, string> {
  return {
    Upgrade: 'websocket',
    [JOIN_HEADERS.participant]: join.participant,
    [JOIN_HEADERS.expiresAt]: join.expiresAt,
    [JOIN_HEADERS.maxParticipants]: String(join.maxParticipants),
    ...(join.lastSeq !== undefined ? { [JOIN_HEADERS.lastSeq]: String(join.lastSeq) } : {}),
    ...(join.protocol !== undefined ? { [JOIN_HEADERS.protocol]: join.protocol } : {}),
    ...(join.deviceVersion !== undefined ? { [JOIN_HEADERS.deviceVersion]: String(join.deviceVersion) } : {}),
  };
}

export function readJoinHeaders(headers: Headers): JoinRequest | undefined {
  const participant = headers.get(JOIN_HEADERS.participant);
  const expiresAt = headers.get(JOIN_HEADERS.expiresAt);
  const maxParticipants = Number(headers.get(JOIN_HEADERS.maxParticipants));
  const lastSeq = headers.get(JOIN_HEADERS.lastSeq);
  const deviceVersion = headers.get(JOIN_HEADERS.deviceVersion);
  if (!participant || !expiresAt || !Number.isInteger(maxParticipants)) return undefined;
  return {
    participant,
    expiresAt,
    maxParticipants,
    lastSeq: lastSeq === null ? undefined : Number(lastSeq),
    protocol: headers.get(JOIN_HEADERS.protocol) ?? undefined,
    deviceVersion: deviceVersion === null ? undefined : Number(deviceVersion),
  };
}
