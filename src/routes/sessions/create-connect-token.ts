import * as devices from '../../db/devices.ts';
import * as sessionKeyGrants from '../../db/session-key-grants.ts';
import * as sessions from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { mintConnectToken } from '../../lib/session-token.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { ConnectTokenSchema, DEFAULT_TOKEN_TTL_SECONDS, SessionPathSchema, TokenCreateSchema } from '../../schemas/sessions.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute, type RouteAuthorizer } from '../define-route.ts';
import { loadSession } from './load.ts';
import { isDeviceParticipant, requireParticipantAllowed } from './participant.ts';

export const createConnectTokenRoute = defineRoute({
  method: 'post',
  path: '/v1/sessions/{id}/tokens',
  operationId: 'createConnectToken',
  tags: ['Sessions'],
  summary: 'Mint a connect token',
  description:
    "Mints a short-lived JWT (HS256, at most 15 minutes) with which one participant opens the session's WebSocket. A device participant must be an active device of the organisation, and on the session's allow-list when it has one; a session with an allow-list takes no client labels. The same is checked again when the token is used to connect. The token works only while the API key that minted it does: revoking the key, or its expiry, refuses the token at connect, and revoking it closes the sockets opened with its tokens (close code 4004).",
  scope: 'sessions:write',
  rateLimit: 'token',
  idempotent: 'atomic',
  request: {
    params: SessionPathSchema,
    body: { required: true, content: { 'application/json': { schema: TokenCreateSchema } } },
  },
  responses: {
    201: { description: 'The token.', content: { 'application/json': { schema: ConnectTokenSchema } } },
    403: problemResponse(
      'The API key lacks `sessions:write` (`insufficient_scope`), or the participant may not join this session: no such device in the organisation, a disabled one, or one off the allow-list (`participant_not_allowed`).',
    ),
    409: problemResponse('The session has ended (`session_ended`).'),
  },
});

export const authorizeConnectToken: RouteAuthorizer<typeof createConnectTokenRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { participant } = c.req.valid('json');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const session = await loadSession(db, orgId, id);
  const device = isDeviceParticipant(participant) ? await devices.getDevice(db, orgId, participant) : undefined;
  requireParticipantAllowed(session, participant, device);
};

export const createConnectToken: AppRouteHandler<typeof createConnectTokenRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { participant, ttl_seconds: ttlSeconds } = c.req.valid('json');
  const { orgId, keyId } = c.get('auth');
  const config = c.get('config');
  const now = nowIso();
  const session = sessions.effectiveSession(await loadSession(config.db, orgId, id), now);
  if (session.status === 'ended') throw new ApiError('session_ended', { detail: `Session ${id} has ended; open a new one.` });

  // Never past the session's own end.
  const secondsLeft = Math.floor((Date.parse(session.expiresAt) - Date.now()) / 1000);
  const minted = await mintConnectToken(config.sessionJwtSecret, {
    participant,
    sessionId: id,
    orgId,
    keyId,
    ttlSeconds: Math.min(ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS, Math.max(1, secondsLeft)),
  });
  return commit(
    c,
    {
      statements: [
        await auditEvent(c, 'session.token_issued', id, now),
        // What lets a revocation of this key reach the sockets opened with the token.
        sessionKeyGrants.recordSessionKeyGrant(config.db, { orgId, apiKeyId: keyId, sessionId: id, expiresAt: session.expiresAt }),
      ],
    },
    { status: 201, json: { token: minted.token, session_id: id, participant, expires_at: minted.expiresAt.toISOString() } },
  );
};
