import * as devices from '../../db/devices.ts';
import { HISTORY_RETENTION } from '../../db/organizations.ts';
import * as sessions from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { isoAfter, nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { DEFAULT_FRAME_BYTES, DEFAULT_PRESENCE_GRACE_SECONDS, FRAME_RATE } from '../../schemas/realtime.ts';
import { locationHeader, problemResponse } from '../../schemas/responses.ts';
import { DEFAULT_SESSION_TTL_SECONDS, SESSION_CREATE_EXAMPLE, SessionCreateSchema, SessionSchema } from '../../schemas/sessions.ts';
import { auditEvent } from '../audit.ts';
import { commit } from '../commit.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
import { changeEvent } from '../outbox.ts';
import { presentSession, sessionLocation } from './present.ts';

const DEFAULT_MAX_PARTICIPANTS = 100;

export const createSessionRoute = defineRoute({
  method: 'post',
  path: '/v1/sessions',
  operationId: 'createSession',
  tags: ['Sessions'],
  summary: 'Open a session',
  description:
    'Opens a realtime session. It ends by itself after `ttl_seconds`. Every device in `allowed_device_ids` must be a device of the organisation.',
  scope: 'sessions:write',
  rateLimit: 'write',
  idempotent: 'atomic',
  request: {
    body: { required: true, content: { 'application/json': { schema: SessionCreateSchema, example: SESSION_CREATE_EXAMPLE } } },
  },
  responses: {
    201: {
      description: 'The session.',
      headers: locationHeader("The session's URL."),
      content: { 'application/json': { schema: SessionSchema } },
      links: {
        GetSession: { operationId: 'getSession', parameters: { id: '$response.body#/id' }, description: 'Read the session.' },
        EndSession: { operationId: 'endSession', parameters: { id: '$response.body#/id' }, description: 'End the session.' },
        CreateConnectToken: {
          operationId: 'createConnectToken',
          parameters: { id: '$response.body#/id' },
          description: 'Mint a connect token.',
        },
      },
    },
    404: problemResponse('A device in `allowed_device_ids` is not a device of the organisation (`not_found`, naming it).'),
  },
});

export const createSession: AppRouteHandler<typeof createSessionRoute> = async (c) => {
  const input = c.req.valid('json');
  const { orgId } = c.get('auth');
  const { db } = c.get('config');
  const allowed = input.allowed_device_ids ?? null;
  if (allowed !== null) {
    const known = await devices.existingDeviceIds(db, orgId, allowed);
    const unknownIndex = allowed.findIndex((id) => !known.has(id));
    if (unknownIndex !== -1) {
      throw new ApiError('not_found', {
        detail: `No device ${allowed[unknownIndex]} in this organisation.`,
        errors: [{ location: 'body', pointer: `/allowed_device_ids/${unknownIndex}`, detail: 'No such device', code: 'not_found' }],
      });
    }
  }
  const now = new Date();
  const createdAt = nowIso();
  const history = HISTORY_RETENTION[c.get('auth').plan];
  const session: sessions.SessionRecord = {
    id: newId('session'),
    orgId,
    allowedDeviceIds: allowed,
    maxParticipants: input.max_connections ?? DEFAULT_MAX_PARTICIPANTS,
    expiresAt: isoAfter((input.ttl_seconds ?? DEFAULT_SESSION_TTL_SECONDS) * 1000, now),
    endedAt: null,
    endReason: null,
    createdAt,
    presenceGraceSeconds: input.presence_grace_seconds ?? DEFAULT_PRESENCE_GRACE_SECONDS,
    maxFrameBytes: input.max_frame_bytes ?? DEFAULT_FRAME_BYTES,
    framesPerSecond: input.frames_per_second ?? FRAME_RATE.perSecond,
    historyMaxMessages: history.messages,
    historyMaxAgeSeconds: history.days * 24 * 60 * 60,
  };
  const presented = presentSession(session, createdAt);
  return commit(
    c,
    {
      statements: [
        sessions.insertSession(db, session),
        await auditEvent(c, 'session.created', session.id, createdAt),
        changeEvent(c, 'session.created', presented, createdAt),
      ],
    },
    { status: 201, headers: { Location: sessionLocation(session.id) }, json: presented },
  );
};
