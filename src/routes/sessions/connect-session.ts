import { z } from '@hono/zod-openapi';
import * as apiKeys from '../../db/api-keys.ts';
import * as deviceConnections from '../../db/device-connections.ts';
import * as devices from '../../db/devices.ts';
import * as sessions from '../../db/sessions.ts';
import { JOIN_REFUSAL_HEADER, type JoinRefusal, joinHeaders } from '../../durable-objects/session-room-protocol.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { TokenRejected, verifyConnectToken } from '../../lib/session-token.ts';
import { CLOSE_CODE_TABLE, closeCodeTable, FRAME_RATE, REPLAY_LIMIT, SUBPROTOCOL } from '../../schemas/realtime.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { EXAMPLE_TOKEN, SessionPathSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { isDeviceParticipant, requireParticipantAllowed } from './participant.ts';
import { callRoom, invalidTokenError, refusalError, roomSettingsOf } from './room.ts';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export const connectSessionRoute = defineRoute({
  method: 'get',
  path: '/v1/sessions/{id}/connect',
  operationId: 'connectSession',
  tags: ['Sessions'],
  summary: 'Open the session WebSocket',
  callsDependencies: true,
  description: [
    'Upgrades to a WebSocket on which the participant receives `ServerFrame`s (every `SessionMessage` of the session, in `seq` order, plus `error` and `pong` frames addressed to it alone), and sends `ClientFrame`s.',
    `Authenticate with a connect token (not an API key): as a subprotocol, \`Sec-WebSocket-Protocol: ${SUBPROTOCOL}, <token>\` (the server answers \`${SUBPROTOCOL}\`), or as the \`token\` query parameter (redacted from logs). The token and the \`Origin\` are checked before the upgrade: no socket is opened on failure. A browser \`Origin\` must be on the CORS allowlist; clients that send none (devices, servers) are authenticated by the token alone.`,
    "The first frame is a `welcome`: the stream `epoch`, the participants present and the `seq` that presence is consistent with, and the socket's limits. Presence is per connection: a participant joins with its first socket and leaves with its last; one whose last socket drops without a close frame stays present for the session's `presence_grace_seconds`, so a quick reconnect announces nothing.",
    `Reconnect with \`last_seq\` (the highest \`seq\` processed) and \`epoch\`: the socket replays what was missed, in order, at most the last ${REPLAY_LIMIT.toLocaleString('en')}; an older part is announced first as a \`gap\` (read it from \`GET /v1/sessions/{id}/messages\`), and \`resumed\` ends the replay. Give a \`message\` frame an \`id\` to publish it at most once: a repeat is answered with \`published\` and not broadcast.`,
    `Each socket may send the session's \`frames_per_second\` (default ${FRAME_RATE.perSecond}, in bursts of ${FRAME_RATE.burst}; the \`welcome\` says); an excess frame is dropped and answered with an \`error\` \`rate_limited\` and \`retry_after_ms\`. Send \`{"type":"ping"}\` (answered \`{"type":"pong"}\`) at least every 30 s.`,
    closeCodeTable(),
  ].join('\n\n'),
  request: {
    params: SessionPathSchema,
    query: z
      .object({
        token: z
          .string()
          .min(1)
          .max(4096)
          .optional()
          .openapi({ description: 'The connect token, when it cannot travel as a subprotocol.', example: EXAMPLE_TOKEN }),
        last_seq: z.coerce
          .number()
          .int()
          .min(0)
          .max(Number.MAX_SAFE_INTEGER)
          .optional()
          .openapi({
            type: 'integer',
            minimum: 0,
            maximum: Number.MAX_SAFE_INTEGER,
            description: `Resume after this \`seq\`: the socket replays what came after it (at most the last ${REPLAY_LIMIT.toLocaleString('en')}, announcing an older part as a \`gap\`), then sends \`resumed\`, then live messages.`,
            example: 41,
          }),
        epoch: z
          .string()
          .regex(/^ep_[0-9A-Za-z]{22}$/, 'Must be an epoch from a welcome frame')
          .optional()
          .openapi({
            description:
              "The `epoch` of the stream `last_seq` counts in (from the `welcome` frame). When the session's stream has another epoch, nothing is resumed: the `welcome` says the new epoch and `seq`.",
            example: 'ep_4Rt8Wq2Zy6Xn1Pv3Lk5Jd7',
          }),
      })
      .strict(),
    headers: z.object({
      'Sec-WebSocket-Protocol': z
        .string()
        .max(8192)
        .optional()
        .openapi({
          description: `\`${SUBPROTOCOL}\` and the connect token, comma-separated.`,
          example: `${SUBPROTOCOL}, ${EXAMPLE_TOKEN}`,
        }),
    }),
  },
  // The frames on the socket: the server sends ServerFrame, the client ClientFrame (components).
  'x-websocket': {
    subprotocol: SUBPROTOCOL,
    serverFrame: 'ServerFrame',
    clientFrame: 'ClientFrame',
    closeCodes: CLOSE_CODE_TABLE.map((row) => ({ ...row })),
  },
  responses: {
    101: { description: 'Switching protocols: the WebSocket is open.' },
    401: problemResponse(
      'The connect token is missing, malformed, expired, not yet valid, signed with another key or algorithm, or for another session (the same answer for each).',
    ),
    403: problemResponse(
      'A browser `Origin` that is not on the allowlist (`origin_not_allowed`), or a participant that may no longer join: its device was disabled or deleted, or removed from the session (`participant_not_allowed`).',
    ),
    409: problemResponse('The session has ended (`session_ended`) or is full (`session_full`).'),
    426: problemResponse('A valid token, but not a WebSocket upgrade request.'),
  },
});

/**
 * The session, for a device its standing, and whether the API key that minted the token is still in
 * force (neither revoked nor expired), read after recording a device's connection (one transaction).
 */
async function readForConnect(
  db: D1Database,
  orgId: string,
  sessionId: string,
  participant: string,
  device: boolean,
  apiKeyId: string,
  now: string,
): Promise<[sessions.SessionRecord | undefined, devices.DeviceStanding | undefined, boolean]> {
  if (!device) {
    const [session, key] = await db.batch([
      sessions.selectSession(db, orgId, sessionId),
      apiKeys.selectApiKeyStanding(db, orgId, apiKeyId),
    ]);
    return [sessions.sessionOf(session), undefined, apiKeys.apiKeyInForceOf(key, now)];
  }
  const [, session, standing, key] = await db.batch([
    deviceConnections.recordDeviceConnection(db, { orgId, deviceId: participant, sessionId, at: now }),
    sessions.selectSession(db, orgId, sessionId),
    devices.selectDeviceStanding(db, orgId, participant),
    apiKeys.selectApiKeyStanding(db, orgId, apiKeyId),
  ]);
  return [sessions.sessionOf(session), devices.deviceStandingOf(standing), apiKeys.apiKeyInForceOf(key, now)];
}

function originAllowed(allowed: string[] | '*', origin: string): boolean {
  return allowed === '*' || allowed.includes(origin);
}

export const connectSession: AppRouteHandler<typeof connectSessionRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { token: queryToken, last_seq: lastSeq, epoch } = c.req.valid('query');
  const offered = (c.req.valid('header')['Sec-WebSocket-Protocol'] ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter(Boolean);
  const token = offered.find((protocol) => protocol !== SUBPROTOCOL && JWT_SHAPE.test(protocol)) ?? queryToken;
  const config = c.get('config');

  if (token === undefined) throw invalidTokenError('missing');
  let claims: Awaited<ReturnType<typeof verifyConnectToken>>;
  try {
    claims = await verifyConnectToken(config.sessionJwtSecret, token, id);
  } catch (error) {
    if (error instanceof TokenRejected) throw invalidTokenError(error.reason);
    throw error;
  }
  const origin = c.req.header('Origin');
  if (origin !== undefined && !originAllowed(config.corsOrigins, origin)) {
    throw new ApiError('origin_not_allowed', {
      detail: `Origin ${origin} may not open session sockets.`,
      security: { reason: 'origin_not_on_allowlist', details: { origin } },
    });
  }
  // The token says who was allowed in when it was minted; what it names may have changed since (a
  // device disabled or deleted, the minting key revoked or expired), so the participant and the key
  // are checked again, in one batch with the session and the record of this connection that lets a
  // later disable reach the socket.
  const now = nowIso();
  const device = isDeviceParticipant(claims.sub);
  const [stored, standing, keyInForce] = await readForConnect(config.db, claims.org, id, claims.sub, device, claims.keyId, now);
  // A revoked or expired key's token gets the answer of any bad token.
  if (!stored || !keyInForce) throw invalidTokenError(stored ? 'key_not_in_force' : 'session_not_found');
  const session = sessions.effectiveSession(stored, now);
  if (session.status === 'ended') throw refusalError('session_ended', id);
  requireParticipantAllowed(session, claims.sub, standing);
  if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
    // No `Upgrade: websocket` response header: it is hop-by-hop and proxies drop it.
    throw new ApiError('upgrade_required', { detail: 'Open this URL as a WebSocket (Upgrade: websocket).' });
  }

  const join = joinHeaders({
    participant: claims.sub,
    settings: roomSettingsOf(session),
    lastSeq,
    epoch,
    protocol: offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : undefined,
    deviceVersion: standing?.version,
    apiKeyId: claims.keyId,
  });
  // Not repeated: a join whose answer was lost may have been accepted (its socket then goes stale and closes).
  const answer = await callRoom(c, id, (room) => room.fetch(new Request(c.req.url, { headers: join })), { repeatable: false });
  if (answer.status !== 101) throw refusalError(answer.headers.get(JOIN_REFUSAL_HEADER) as JoinRefusal | null, id);
  if (device) {
    c.executionCtx.waitUntil(
      devices
        .stampDeviceSeen(config.db, claims.org, claims.sub, now)
        .run()
        .then(
          () => undefined,
          (error: unknown) => c.get('logger').warn('could not stamp last_seen_at', { device_id: claims.sub, error }),
        ),
    );
  }
  // A fresh Response: the room's has immutable headers, and the middleware adds its own.
  return new Response(null, { status: 101, webSocket: answer.webSocket, headers: answer.headers }) as never;
};
