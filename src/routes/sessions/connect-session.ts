import { z } from '@hono/zod-openapi';
import * as deviceConnections from '../../db/device-connections.ts';
import * as devices from '../../db/devices.ts';
import * as sessions from '../../db/sessions.ts';
import { JOIN_REFUSAL_HEADER, type JoinRefusal, joinHeaders } from '../../durable-objects/session-room-protocol.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { TokenRejected, verifyConnectToken } from '../../lib/session-token.ts';
import { SUBPROTOCOL } from '../../schemas/realtime.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { EXAMPLE_TOKEN, SessionPathSchema } from '../../schemas/sessions.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { isDeviceParticipant, requireParticipantAllowed } from './participant.ts';
import { callRoom, refusalError } from './room.ts';

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
    'Reconnect with `last_seq` (the highest `seq` processed) to receive what was missed, in order, exactly once; the room keeps the last 1,000 messages.',
    'Close codes: 4000 session ended, 4001 session expired, 4003 the participant (a device) was disabled or deleted, 4008 no frame or ping for 60 s, 1009 a frame over 1 MiB. Send `{"type":"ping"}` (answered `{"type":"pong"}`) at least every 30 s.',
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
        last_seq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({
          type: 'integer',
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          description: 'Replay every retained message after this `seq` before live ones.',
          example: 41,
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
  'x-websocket': { subprotocol: SUBPROTOCOL, serverFrame: 'ServerFrame', clientFrame: 'ClientFrame' },
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

/** The session and, for a device, its standing, read after recording the connection (one transaction). */
async function readForConnect(
  db: D1Database,
  orgId: string,
  sessionId: string,
  participant: string,
  device: boolean,
  now: string,
): Promise<[sessions.SessionRecord | undefined, devices.DeviceStanding | undefined]> {
  if (!device) return [await sessions.getSession(db, orgId, sessionId), undefined];
  const [, session, standing] = await db.batch([
    deviceConnections.recordDeviceConnection(db, { orgId, deviceId: participant, sessionId, at: now }),
    sessions.selectSession(db, orgId, sessionId),
    devices.selectDeviceStanding(db, orgId, participant),
  ]);
  return [sessions.sessionOf(session), devices.deviceStandingOf(standing)];
}

function originAllowed(allowed: string[] | '*', origin: string): boolean {
  return allowed === '*' || allowed.includes(origin);
}

export const connectSession: AppRouteHandler<typeof connectSessionRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { token: queryToken, last_seq: lastSeq } = c.req.valid('query');
  const offered = (c.req.valid('header')['Sec-WebSocket-Protocol'] ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter(Boolean);
  const token = offered.find((protocol) => protocol !== SUBPROTOCOL && JWT_SHAPE.test(protocol)) ?? queryToken;
  const config = c.get('config');
  const invalid = () =>
    new ApiError('invalid_token', {
      detail: 'The connect token is missing, invalid, expired or for another session; mint a new one.',
      headers: { 'WWW-Authenticate': 'Bearer realm="switchyard", error="invalid_token"' },
    });

  if (token === undefined) throw invalid();
  let claims: Awaited<ReturnType<typeof verifyConnectToken>>;
  try {
    claims = await verifyConnectToken(config.sessionJwtSecret, token, id);
  } catch (error) {
    if (error instanceof TokenRejected) throw invalid();
    throw error;
  }
  const origin = c.req.header('Origin');
  if (origin !== undefined && !originAllowed(config.corsOrigins, origin)) {
    throw new ApiError('origin_not_allowed', { detail: `Origin ${origin} may not open session sockets.` });
  }
  // The token says who was allowed in when it was minted; what it names may have changed since (a
  // device disabled or deleted), so the participant is checked again, in one batch with the session
  // and the record of this connection that lets a later disable reach the socket.
  const now = nowIso();
  const device = isDeviceParticipant(claims.sub);
  const [stored, standing] = await readForConnect(config.db, claims.org, id, claims.sub, device, now);
  if (!stored) throw invalid();
  const session = sessions.effectiveSession(stored, now);
  if (session.status === 'ended') throw refusalError('session_ended', id);
  requireParticipantAllowed(session, claims.sub, standing);
  if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
    // No `Upgrade: websocket` response header: it is hop-by-hop and proxies drop it.
    throw new ApiError('upgrade_required', { detail: 'Open this URL as a WebSocket (Upgrade: websocket).' });
  }

  const join = joinHeaders({
    participant: claims.sub,
    expiresAt: session.expiresAt,
    maxParticipants: session.maxParticipants,
    lastSeq,
    protocol: offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : undefined,
    deviceVersion: standing?.version,
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
