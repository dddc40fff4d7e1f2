import { insertAuditEvent } from '../../db/audit-events.ts';
import { existingDeviceIds } from '../../db/devices.ts';
import { insertSession, type SessionRecord } from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import { isoAfter, nowIso } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { problemResponse } from '../../schemas/responses.ts';
import { DEFAULT_SESSION_TTL_SECONDS, SessionCreateSchema, SessionSchema } from '../../schemas/sessions.ts';
import { auditContext } from '../audit-context.ts';
import { type AppRouteHandler, defineRoute } from '../define-route.ts';
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
  idempotent: 'claim',
  request: {
    body: { required: true, content: { 'application/json': { schema: SessionCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The session.',
      headers: { Location: { description: "The session's URL.", required: true, schema: { type: 'string' } } },
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
    const known = await existingDeviceIds(db, orgId, allowed);
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
  const session: SessionRecord = {
    id: newId('session'),
    orgId,
    allowedDeviceIds: allowed,
    maxParticipants: input.max_participants ?? DEFAULT_MAX_PARTICIPANTS,
    expiresAt: isoAfter((input.ttl_seconds ?? DEFAULT_SESSION_TTL_SECONDS) * 1000, now),
    endedAt: null,
    endReason: null,
    createdAt,
  };
  await db.batch([
    insertSession(db, session),
    insertAuditEvent(db, await auditContext(c), { action: 'session.created', targetType: 'session', targetId: session.id, at: createdAt }),
  ]);
  c.header('Location', sessionLocation(session.id));
  return c.json(presentSession(session, createdAt), 201);
};
