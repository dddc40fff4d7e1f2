/**
 * @module
 * Realtime sessions and their connect tokens.
 */
import { z } from '@hono/zod-openapi';
import { MAX_TOKEN_TTL_SECONDS } from '../lib/session-token.ts';
import { idSchema, NextCursorSchema, PaginationQuerySchema, queryFilter, TimestampSchema } from './common.ts';
import { DeviceIdSchema } from './devices.ts';
import { jsonValue } from './json.ts';
import {
  DEFAULT_FRAME_BYTES,
  DEFAULT_PRESENCE_GRACE_SECONDS,
  FRAME_RATE,
  MAX_FRAME_BYTES,
  MAX_FRAMES_PER_SECOND,
  MAX_PRESENCE_GRACE_SECONDS,
  MIN_FRAME_BYTES,
  SessionMessageSchema,
} from './realtime.ts';

export const MAX_PARTICIPANTS = 1000;
export const MAX_SESSION_TTL_SECONDS = 24 * 60 * 60;
export const DEFAULT_SESSION_TTL_SECONDS = 60 * 60;
export const DEFAULT_TOKEN_TTL_SECONDS = 5 * 60;
export const MAX_ALLOWED_DEVICES = 100;
export const MAX_HISTORY_PAGE = 1000;
export const DEFAULT_HISTORY_PAGE = 100;

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

const PresenceGraceSchema = z
  .int()
  .min(0)
  .max(MAX_PRESENCE_GRACE_SECONDS)
  .openapi({
    description: `How long a participant whose last socket dropped without a close frame stays present before it is announced as \`left\`, 0–${MAX_PRESENCE_GRACE_SECONDS} s; default ${DEFAULT_PRESENCE_GRACE_SECONDS}. A reconnect within it announces nothing; a socket closed by its client leaves at once.`,
    example: DEFAULT_PRESENCE_GRACE_SECONDS,
  });

const MaxFrameBytesSchema = z
  .int()
  .min(MIN_FRAME_BYTES)
  .max(MAX_FRAME_BYTES)
  .openapi({
    description: `The largest frame a socket may send and the largest published payload, in bytes: ${MIN_FRAME_BYTES.toLocaleString('en')} to ${MAX_FRAME_BYTES.toLocaleString('en')} (1 MiB); default ${DEFAULT_FRAME_BYTES.toLocaleString('en')} (64 KiB). A bigger frame closes the socket with 1009.`,
    example: DEFAULT_FRAME_BYTES,
  });

const FramesPerSecondSchema = z
  .int()
  .min(1)
  .max(MAX_FRAMES_PER_SECOND)
  .openapi({
    description: `How many frames a second each socket may send, 1–${MAX_FRAMES_PER_SECOND}, in bursts of twice as many; default ${FRAME_RATE.perSecond} (bursts of ${FRAME_RATE.burst}). An excess frame is dropped and answered \`rate_limited\`.`,
    example: FRAME_RATE.perSecond,
  });

export const SessionSchema = z
  .object({
    id: SessionIdSchema,
    status: StatusSchema,
    allowed_device_ids: AllowedDevicesSchema.nullable().openapi({ description: 'The devices allowed in; `null` lets any participant in.' }),
    max_connections: z.int().min(1).max(MAX_PARTICIPANTS).openapi({
      description:
        'How many sockets may be connected at once, counting every socket of a participant that connects more than once (`session_full` past it). Before 2026-12-08, `max_participants`.',
      example: 100,
    }),
    expires_at: TimestampSchema.openapi({ description: 'When the session ends by itself.' }),
    ended_at: TimestampSchema.nullable().openapi({ description: 'When it ended; `null` while active.' }),
    end_reason: z
      .enum(SESSION_END_REASONS)
      .nullable()
      .openapi({ description: 'Why it ended: asked to (`ended`) or its TTL ran out (`expired`).', example: null }),
    created_at: TimestampSchema.openapi({ description: 'When the session was opened.' }),
    presence_grace_seconds: PresenceGraceSchema,
    max_frame_bytes: MaxFrameBytesSchema,
    frames_per_second: FramesPerSecondSchema,
    history: z
      .object({
        max_messages: z.int().min(1).openapi({ description: 'The room keeps at most this many messages…', example: 10_000 }),
        max_age_seconds: z.int().min(1).openapi({ description: '…and none older than this.', example: 86_400 }),
      })
      .openapi({
        description:
          'How much message history the session keeps (`GET /v1/sessions/{id}/messages`), by the plan of the organisation when it was opened: free 1 day / 10,000 messages, pro 7 days / 100,000, enterprise 30 days / 1,000,000, whichever limit is reached first.',
      }),
  })
  .openapi('Session', { description: 'A realtime session.' });

export const SessionCreateSchema = z
  .object({
    allowed_device_ids: AllowedDevicesSchema.optional(),
    max_connections: z
      .int()
      .min(1)
      .max(MAX_PARTICIPANTS)
      .optional()
      .openapi({
        description: `How many sockets may be connected at once, at most ${MAX_PARTICIPANTS}; default 100. Before 2026-12-08, \`max_participants\`.`,
        example: 10,
      }),
    ttl_seconds: z
      .int()
      .min(60)
      .max(MAX_SESSION_TTL_SECONDS)
      .optional()
      .openapi({ description: `How long the session lives, 60 s to 24 h; default ${DEFAULT_SESSION_TTL_SECONDS} s.`, example: 3600 }),
    presence_grace_seconds: PresenceGraceSchema.optional(),
    max_frame_bytes: MaxFrameBytesSchema.optional(),
    frames_per_second: FramesPerSecondSchema.optional(),
  })
  .strict()
  .openapi('SessionCreate', { description: 'A session to open. Every field is optional.' });

/** The request the reference pre-fills and the TypeScript sample sends: without `allowed_device_ids`, whose example device does not exist. */
export const SESSION_CREATE_EXAMPLE = { ttl_seconds: 3600, max_connections: 10 } satisfies z.input<typeof SessionCreateSchema>;

export const SessionListSchema = z
  .object({
    data: z.array(SessionSchema).openapi({ description: 'Sessions in creation order, oldest first.' }),
    next_cursor: NextCursorSchema,
  })
  .openapi('SessionList', { description: 'A page of sessions.' });

export const SessionListQuerySchema = PaginationQuerySchema.extend({
  status: queryFilter(StatusSchema, 'Only sessions with this status.'),
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
    payload: jsonValue({
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

export const SessionHistoryQuerySchema = z
  .object({
    after_seq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({
      type: 'integer',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      // No example: a fixed `seq` past the session's last one is an empty first page.
      description: "Messages after this `seq` (default 0: from the oldest kept). Pass the page's `next_after_seq` for the next page.",
    }),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_HISTORY_PAGE)
      .optional()
      .openapi({
        type: 'integer',
        minimum: 1,
        maximum: MAX_HISTORY_PAGE,
        default: DEFAULT_HISTORY_PAGE,
        description: `At most this many messages, 1–${MAX_HISTORY_PAGE}; default ${DEFAULT_HISTORY_PAGE}.`,
      }),
  })
  .strict();

export const SessionHistorySchema = z
  .object({
    data: z.array(SessionMessageSchema).openapi({ description: 'Messages and presence events in `seq` order, each exactly as broadcast.' }),
    epoch: z.string().openapi({
      description: 'The stream these `seq`s count in, as in the `welcome` frame.',
      example: 'ep_4Rt8Wq2Zy6Xn1Pv3Lk5Jd7',
    }),
    earliest_seq: z.int().min(1).openapi({
      description:
        'The oldest `seq` the session still keeps; anything before it is past the history retention and gone. `last_seq` + 1 when it keeps none.',
      example: 1,
    }),
    last_seq: z.int().min(0).openapi({ description: 'The newest `seq` given out so far.', example: 2041 }),
    next_after_seq: z.int().min(0).nullable().openapi({
      description: 'Pass as `after_seq` for the next page; `null` when this page reaches `last_seq` (what follows arrives live).',
      example: 141,
    }),
  })
  .openapi('SessionHistory', {
    description: 'A page of the session history: what the socket replays and more, so a client can fill a `gap`.',
  });
