/**
 * @module
 * How the Worker hands an authenticated WebSocket upgrade to a SessionRoom, and how the room says
 * no. Kept apart from the Durable Object class so that modules which run outside the Workers
 * runtime (the spec emitter) can import it.
 */

/**
 * What the session's D1 row says the room must enforce. The Worker passes it with every join,
 * publish and history read (the room keeps the last it was told), so the room never reads D1; it
 * only writes its presence events there.
 */
export interface RoomSettings {
  expiresAt: string;
  maxParticipants: number;
  maxFrameBytes: number;
  framesPerSecond: number;
  presenceGraceSeconds: number;
  historyMaxMessages: number;
  historyMaxAgeSeconds: number;
  /**
   * The session's organisation and id, for the presence events the room writes to D1. Settings a
   * room stored before it was told them have neither: such a room writes no events until its next join.
   */
  orgId?: string;
  sessionId?: string;
}

/** What the Worker tells the room about a connection it has already authenticated. */
export interface JoinRequest {
  participant: string;
  settings: RoomSettings;
  lastSeq: number | undefined;
  /** The epoch the client's `lastSeq` belongs to, when it said. */
  epoch: string | undefined;
  protocol: string | undefined;
  /** For a device participant: the version of the device record that allowed it in. */
  deviceVersion: number | undefined;
  /** The API key that minted the connect token: revoking it closes the socket. */
  apiKeyId: string | undefined;
}

/** Why a join was refused; the Worker turns it into a problem response. */
export type JoinRefusal = 'session_ended' | 'session_full' | 'participant_not_allowed' | 'token_revoked';

export const JOIN_REFUSAL_HEADER = 'X-Switchyard-Refusal';

const JOIN_HEADERS = {
  participant: 'X-Switchyard-Participant',
  settings: 'X-Switchyard-Room-Settings',
  lastSeq: 'X-Switchyard-Last-Seq',
  epoch: 'X-Switchyard-Epoch',
  protocol: 'X-Switchyard-Protocol',
  deviceVersion: 'X-Switchyard-Device-Version',
  apiKeyId: 'X-Switchyard-Api-Key',
} as const;

/** Headers for the forwarded upgrade request. */
export function joinHeaders(join: JoinRequest): Record<string, string> {
  return {
    Upgrade: 'websocket',
    [JOIN_HEADERS.participant]: join.participant,
    [JOIN_HEADERS.settings]: JSON.stringify(join.settings),
    ...(join.lastSeq !== undefined ? { [JOIN_HEADERS.lastSeq]: String(join.lastSeq) } : {}),
    ...(join.epoch !== undefined ? { [JOIN_HEADERS.epoch]: join.epoch } : {}),
    ...(join.protocol !== undefined ? { [JOIN_HEADERS.protocol]: join.protocol } : {}),
    ...(join.deviceVersion !== undefined ? { [JOIN_HEADERS.deviceVersion]: String(join.deviceVersion) } : {}),
    ...(join.apiKeyId !== undefined ? { [JOIN_HEADERS.apiKeyId]: join.apiKeyId } : {}),
  };
}

export function readJoinHeaders(headers: Headers): JoinRequest | undefined {
  const participant = headers.get(JOIN_HEADERS.participant);
  const settings = headers.get(JOIN_HEADERS.settings);
  const lastSeq = headers.get(JOIN_HEADERS.lastSeq);
  const deviceVersion = headers.get(JOIN_HEADERS.deviceVersion);
  if (!participant || !settings) return undefined;
  return {
    participant,
    // Written by joinHeaders above from a typed RoomSettings; only the Worker can reach the room.
    settings: JSON.parse(settings) as RoomSettings,
    lastSeq: lastSeq === null ? undefined : Number(lastSeq),
    epoch: headers.get(JOIN_HEADERS.epoch) ?? undefined,
    protocol: headers.get(JOIN_HEADERS.protocol) ?? undefined,
    deviceVersion: deviceVersion === null ? undefined : Number(deviceVersion),
    apiKeyId: headers.get(JOIN_HEADERS.apiKeyId) ?? undefined,
  };
}
