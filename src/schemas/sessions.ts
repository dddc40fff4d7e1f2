/**
 * @module
 * Realtime sessions and their connect tokens.
 */
import { z } from '@hono/zod-openapi';
import { MAX_TOKEN_TTL_SECONDS } from '../lib/session-token.ts';
import { idSchema, NextCursorSchema, PaginationQuerySchema, TimestampSchema } from './common.ts';
import { DeviceIdSchema } from './devices.ts';

export const MAX_PARTICIPANTS = 1000;
export const MAX_SESSION_TTL_SECONDS = 24 * 60 * 60;
export const DEFAULT_SESSION_TTL_SECONDS = 60 * 60;
export const DEFAULT_TOKEN_TTL_SECONDS = 5 * 60;
export const MAX_ALLOWED_DEVICES = 100;

export const SESSION_EXAMPLE_ID = 'ses_3Jd8Pq1Wx6Rz0Nv5Tb2Ly7';
/** An ASCII stand-in for a connect token (header examples must be valid header values). */
export const EXAMPLE_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJzZXNfIn0.c2lnbmF0dXJl';

export const SessionIdSchema = idSchema('session', 'The session id.', SESSION_EXAMPLE_ID);

export const SessionPathSchema = z.object({
  id: SessionIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

export const SESSION_STATUSES = ['active', 'ended'] as const;
export const SESSION_END_REASONS = ['ended', 'expired'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];

const StatusSchema = z.enum(SESSION_STATUSES).openapi({ description: '`ended` once ended or past `expires_at`.', example: 'active' });

const AllowedDevicesSchema = z
  .array(DeviceIdSchema)
  .min(1)
  .max(MAX_ALLOWED_DEVICES)
  .refine((ids) => new Set(ids).size === ids.length, 'Device ids must not repeat')
  .openapi({
    description: `Only these devices of the organisation may be given tokens (at most ${MAX_ALLOWED_DEVICES}, each once); client labels are then refused too.`,
    uniqueItems: true,
    example: ['dev_8Kq2Wn5Rt7Yb1Xc4Vz9Lm3'],
  });

export const SessionSchema = z
  .object({
    id: SessionIdSchema,
    status: StatusSchema,
    allowed_device_ids: AllowedDevicesSchema.nullable().openapi({ description: 'The devices allowed in; `null` lets any participant in.' }),
    max_participants: z
      .int()
      .min(1)
      .max(MAX_PARTICIPANTS)
      .openapi({ description: 'How many sockets may be connected at once.', example: 100 }),
    expires_at: TimestampSchema.openapi({ description: 'When the session ends by itself.' }),
    ended_at: TimestampSchema.nullable().openapi({ description: 'When it ended; `null` while active.' }),
    end_reason: z
      .enum(SESSION_END_REASONS)
      .nullable()
      .openapi({ description: 'Why it ended: asked to (`ended`) or its TTL ran out (`expired`).', example: null }),
    created_at: TimestampSchema.openapi({ description: 'When the session was opened.' }),
  })
  .openapi('Session', { description: 'A realtime session.' });

export const SessionCreateSchema = z
  .object({
    allowed_device_ids: AllowedDevicesSchema.optional(),
    max_participants: z
      .int()
      .min(1)
      .max(MAX_PARTICIPANTS)
      .optional()
      .openapi({ description: `At most ${MAX_PARTICIPANTS}; default 100.`, example: 10 }),
    ttl_seconds: z
      .int()
      .min(60)
      .max(MAX_SESSION_TTL_SECONDS)
      .optional()
      .openapi({ description: `How long the session lives, 60 s to 24 h; default ${DEFAULT_SESSION_TTL_SECONDS} s.`, example: 3600 }),
  })
  .strict()
  .openapi('SessionCreate', { description: 'A session to open. Every field is optional.' });

export const SessionListSchema = z
  .object({
    data: z.array(SessionSchema).openapi({ description: 'Sessions in creation order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('SessionList', { description: 'A page of sessions.' });

export const SessionListQuerySchema = PaginationQuerySchema.extend({
  status: StatusSchema.optional().openapi({ description: 'Only sessions with this status.' }),
}).strict();

export const ParticipantSchema = z
  .string()
  .regex(/^(dev_[0-9A-Za-z]{22}|client:[A-Za-z0-9_.-]{1,64})$/, 'Must be a device id or client:<label>')
  .openapi({
    description:
      'Who the token is for: a device of the organisation (`dev_…`), or a client label (`client:` and 1–64 of `A–Z a–z 0–9 _ . -`).',
    example: 'client:support-agent-7',
  });

export const TokenCreateSchema = z
  .object({
    participant: ParticipantSchema,
    ttl_seconds: z
      .int()
      .min(30)
      .max(MAX_TOKEN_TTL_SECONDS)
      .optional()
      .openapi({
        description: `How long the token may be used to connect, 30 s to 15 min; default ${DEFAULT_TOKEN_TTL_SECONDS} s.`,
        example: 300,
      }),
  })
  .strict()
  .openapi('ConnectTokenCreate', { description: 'A connect token to mint.' });

export const ConnectTokenSchema = z
  .object({
    token: z.string().openapi({
      description: "The JWT (HS256). Send it when opening the session's WebSocket; it is not an API key.",
      example: EXAMPLE_TOKEN,
    }),
    session_id: SessionIdSchema,
    participant: ParticipantSchema,
    expires_at: TimestampSchema.openapi({ description: 'After this the token cannot open a connection.' }),
  })
  .openapi('ConnectToken', { description: 'A short-lived token for one participant of one session.' });

export const SessionPublishSchema = z
  .object({
    payload: z
      .unknown()
      .refine((value) => value !== undefined, 'Required')
      .openapi({
        description: 'Any JSON, at most 1 MiB serialised, delivered to every participant as a `message` from `server`.',
        example: { text: 'maintenance in 5 minutes' },
      }),
  })
  .strict()
  .openapi('SessionPublish', { description: 'A server message to broadcast.' });

export const SessionParticipantListSchema = z
  .object({
    data: z
      .array(
        z
          .object({
            participant: z.string().openapi({ description: 'The participant of the connection.', example: 'client:agent-7' }),
            connected_at: TimestampSchema.openapi({ description: 'When this connection opened.' }),
            last_ack_seq: z
              .int()
              .min(0)
              .openapi({ description: 'The highest `seq` the connection acknowledged (or resumed from).', example: 41 }),
          })
          .openapi('SessionParticipant', { description: 'One open connection to the session.' }),
      )
      .openapi({ description: 'Every open connection; a participant connected twice appears twice.' }),
  })
  .openapi('SessionParticipantList', { description: 'Who is connected now.' });
