import { insertAuditEvent } from '../../db/audit-events.ts';
import { getDevice } from '../../db/devices.ts';
import { effectiveSession } from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { nowIso } from '../../lib/clock.ts';
import { mintConnectToken } from '../../lib/session-token.ts';
import { idempotentConflictResponse, problemResponse } from '../../schemas/responses.ts';
import { ConnectTokenSchema, DEFAULT_TOKEN_TTL_SECONDS, SessionPathSchema, TokenCreateSchema } from '../../schemas/sessions.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { findSession } from './present.ts';

export const createConnectTokenRoute = defineRoute({
  method: 'post',
  path: '/v1/sessions/{id}/tokens',
  operationId: 'createConnectToken',
  tags: ['Sessions'],
  summary: 'Mint a connect token',
  description:
    "Mints a short-lived JWT (HS256, at most 15 minutes) with which one participant opens the session's WebSocket. A device participant must be an active device of the organisation, and on the session's allow-list when it has one; a session with an allow-list takes no client labels.",
  scope: 'sessions:write',
  rateLimit: 'token',
  idempotent: 'claim',
  request: {
    params: SessionPathSchema,
    body: { required: true, content: { 'application/json': { schema: TokenCreateSchema } } },
  },
  responses: {
    201: { description: 'The token.', content: { 'application/json': { schema: ConnectTokenSchema } } },
    403: problemResponse(
      'The API key lacks `sessions:write` (`insufficient_scope`), or the participant may not join this session: no such device in the organisation, a disabled one, or one off the allow-list (`participant_not_allowed`).',
    ),
    409: idempotentConflictResponse('The session has ended (`session_ended`)'),
  },
});

export const createConnectToken: AppRouteHandler<typeof createConnectTokenRoute> = async (c) => {
  const { id } = c.req.valid('param');
  const { participant, ttl_seconds: ttlSeconds } = c.req.valid('json');
  const { orgId } = c.get('auth');
  const config = c.get('config');
  const now = nowIso();
  const session = effectiveSession(await findSession(config.db, orgId, id), now);
  if (session.status === 'ended') throw new ApiError('session_ended', { detail: `Session ${id} has ended; open a new one.` });

  if (participant.startsWith('dev_')) {
    const device = await getDevice(config.db, orgId, participant);
    // 403 rather than 404: the session exists; it is this participant that may not join it.
    if (!device) {
      throw new ApiError('participant_not_allowed', {
        detail: `No device ${participant} in this organisation.`,
        errors: [{ location: 'body', pointer: '/participant', detail: 'No such device', code: 'not_found' }],
      });
    }
    if (device.status !== 'active') throw new ApiError('participant_not_allowed', { detail: `Device ${participant} is disabled.` });
    if (session.allowedDeviceIds !== null && !session.allowedDeviceIds.includes(participant)) {
      throw new ApiError('participant_not_allowed', { detail: `Device ${participant} is not on this session's allow-list.` });
    }
  } else if (session.allowedDeviceIds !== null) {
    throw new ApiError('participant_not_allowed', { detail: 'This session admits only the devices on its allow-list.' });
  }

  // Never past the session's own end.
  const secondsLeft = Math.floor((Date.parse(session.expiresAt) - Date.now()) / 1000);
  const minted = await mintConnectToken(config.sessionJwtSecret, {
    participant,
    sessionId: id,
    orgId,
    ttlSeconds: Math.min(ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS, Math.max(1, secondsLeft)),
  });
  await insertAuditEvent(config.db, await auditContext(c), {
    action: 'session.token_issued',
    targetType: 'session',
    targetId: id,
    at: now,
  }).run();
  return c.json({ token: minted.token, session_id: id, participant, expires_at: minted.expiresAt.toISOString() }, 201);
};
