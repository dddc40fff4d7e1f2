/**
 * @module
 * The WebSocket protocol of a session: every frame the server sends ({@link ServerFrameSchema}) and
 * every frame a client may send ({@link ClientFrameSchema}). Documented as components of the spec;
 * the room builds its frames as a `ServerFrame` and the tests decode what they receive with this
 * schema, so a frame the spec does not declare cannot be sent unnoticed.
 */
import { z } from '@hono/zod-openapi';
import { jsonValue } from './json.ts';

/** The largest frame a session may allow (`max_frame_bytes`); the platform's own WebSocket limit is 1 MiB. */
export const MAX_FRAME_BYTES = 1024 * 1024;
export const DEFAULT_FRAME_BYTES = 64 * 1024;
export const MIN_FRAME_BYTES = 1024;
export const SUBPROTOCOL = 'switchyard.v1';

/** A socket may send twice its per-second rate at once: the token bucket's size for a session's `frames_per_second`. */
export function frameBurst(framesPerSecond: number): number {
  return framesPerSecond * 2;
}

/** Each connection's token bucket by default: frames refill at this rate per second, up to the burst. */
export const FRAME_RATE = { perSecond: 50, burst: frameBurst(50) } as const;
export const MAX_FRAMES_PER_SECOND = 1000;
/**
 * Refused frames tolerated in one window before the socket is closed with 4029: a client that
 * ignores `rate_limited` (and its `retry_after_ms`) is cut off rather than served errors forever.
 */
export const ABUSE_LIMIT = { refusedFrames: 200, windowMs: 10_000 } as const;

/** How long a room remembers a publisher's message ids (client `id`, or the HTTP Idempotency-Key). */
export const PUBLISH_ID_WINDOW = { ms: 10 * 60 * 1000, perSender: 10_000 } as const;

/** The most messages a reconnect replays on the socket; an older part is announced as a `gap`, read from history. */
export const REPLAY_LIMIT = 1000;

/** The default wait before an abruptly disconnected participant is announced as `left`. */
export const DEFAULT_PRESENCE_GRACE_SECONDS = 15;
export const MAX_PRESENCE_GRACE_SECONDS = 300;

/**
 * Every close code a session socket can end with, what it means, and what a client should do. The
 * one table: the spec (`x-close-codes` on the connect operation and its description), the README
 * and the reconnecting client (generated/client.ts) all read it.
 */
export const CLOSE_CODE_TABLE = [
  { code: 1000, name: 'normal', meaning: 'The client closed the socket; the server answers with the same code.', reconnect: 'no' },
  { code: 1001, name: 'going_away', meaning: 'The server is restarting or moving the session.', reconnect: 'yes' },
  { code: 1006, name: 'abnormal', meaning: 'The connection dropped without a close frame (never sent by the server).', reconnect: 'yes' },
  { code: 1009, name: 'frame_too_big', meaning: "A frame over the session's `max_frame_bytes`.", reconnect: 'yes' },
  { code: 1011, name: 'server_error', meaning: 'The server failed while handling the socket.', reconnect: 'yes' },
  { code: 4000, name: 'session_ended', meaning: 'The session was ended.', reconnect: 'no' },
  { code: 4001, name: 'session_expired', meaning: 'The session reached its `expires_at`.', reconnect: 'no' },
  { code: 4003, name: 'participant_removed', meaning: 'The participant (a device) was disabled or deleted.', reconnect: 'no' },
  {
    code: 4004,
    name: 'token_revoked',
    meaning: 'The API key that minted the connect token was revoked; tokens from it are refused.',
    reconnect: 'with a token from another key',
  },
  { code: 4008, name: 'stale', meaning: 'No frame or ping for 60 s.', reconnect: 'yes' },
  {
    code: 4010,
    name: 'organization_erased',
    meaning: 'The organisation was erased (`DELETE /v1/organization`): its sessions, keys and history are gone.',
    reconnect: 'no',
  },
  { code: 4029, name: 'rate_limited', meaning: 'Frames kept coming after `rate_limited` errors.', reconnect: 'yes, after a backoff' },
] as const;

export type CloseCode = (typeof CLOSE_CODE_TABLE)[number]['code'];

/** Close codes the server sends, by name. */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  frameTooBig: 1009,
  serverError: 1011,
  sessionEnded: 4000,
  sessionExpired: 4001,
  /** The participant's device was disabled or deleted. */
  participantRemoved: 4003,
  /** The API key that minted the connect token was revoked. */
  tokenRevoked: 4004,
  stale: 4008,
  /** The organisation was erased. */
  organizationErased: 4010,
  rateLimited: 4029,
} as const satisfies Record<string, CloseCode>;

/** The close codes as a Markdown table, for the connect operation's description and the README. */
export function closeCodeTable(): string {
  const rows = CLOSE_CODE_TABLE.map((row) => `| ${row.code} | \`${row.name}\` | ${row.meaning} | ${row.reconnect} |`);
  return ['| Close code | Name | Meaning | Reconnect? |', '|---|---|---|---|', ...rows].join('\n');
}

/** The codes after which reconnecting cannot help (the client stops). */
export const FINAL_CLOSE_CODES: readonly CloseCode[] = CLOSE_CODE_TABLE.filter((row) => row.reconnect === 'no').map((row) => row.code);

/** Codes of the error frames the server sends; the socket stays open after each. */
export const FRAME_ERROR_CODES = ['invalid_frame', 'rate_limited'] as const;

/** A publisher's own id for a message: 1–64 visible ASCII characters. */
export const MessageIdSchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,64}$/, 'Must be 1–64 visible ASCII characters')
  .openapi({
    description: `The publisher's own id for the message, 1–64 visible ASCII characters. A repeat of an id the room still remembers (the sender's ids of the last ${PUBLISH_ID_WINDOW.ms / 60_000} minutes; of a sender that published more than ${PUBLISH_ID_WINDOW.perSender.toLocaleString('en')} in that time, its newest ${PUBLISH_ID_WINDOW.perSender.toLocaleString('en')}) is not broadcast again: the publisher is answered with the first one's \`seq\`.`,
    example: 'msg-0001',
  });

const epoch = z.string().openapi({
  description:
    "The stream's epoch: it changes only if the session's stream restarts (its `seq` starting again at 1). Reconnect with the epoch you last saw: `last_seq` counts only within it.",
  example: 'ep_4Rt8Wq2Zy6Xn1Pv3Lk5Jd7',
});

const seq = z
  .int()
  .min(1)
  .openapi({ description: 'Per-session sequence number: every broadcast gets the next one, so clients see one order.', example: 42 });
const sender = z.string().openapi({
  description: 'Who sent it: the participant (`dev_…` or `client:…`), or `server` for the HTTP API.',
  example: 'client:agent-7',
});
const ts = z.iso.datetime().openapi({ description: 'When the server sequenced it (UTC).', example: '2026-11-29T06:00:00.000Z' });

export const MessageFrameSchema = z
  .object({
    type: z.literal('message').openapi({ description: 'A message published by a participant or by the server (HTTP API).' }),
    seq,
    sender,
    id: MessageIdSchema.optional().openapi({ description: "The publisher's own id for the message, when it gave one." }),
    payload: jsonValue({ description: 'What the sender published: any JSON.', example: { text: 'hello' } }),
    ts,
  })
  .strict()
  .openapi('MessageFrame', { description: 'A published message, as every participant receives it and as it is replayed.' });

export const PresenceFrameSchema = z
  .object({
    type: z.literal('presence').openapi({ description: 'A participant joined or left.' }),
    seq,
    sender: z.string().openapi({ description: 'The participant that joined or left (`dev_…` or `client:…`).', example: 'client:agent-7' }),
    payload: z
      .object({ event: z.enum(['joined', 'left']).openapi({ description: 'Whether the participant joined or left.' }) })
      .strict()
      .openapi({ description: 'What happened.', example: { event: 'joined' } }),
    ts,
  })
  .strict()
  .openapi('PresenceFrame', { description: 'A participant joined or left; sequenced and replayed like a message.' });

export const SessionMessageSchema = z
  .discriminatedUnion('type', [MessageFrameSchema, PresenceFrameSchema])
  .openapi('SessionMessage', { description: 'What the server broadcasts to a session: sequenced, kept and replayed.' });

export const ErrorFrameSchema = z
  .object({
    type: z.literal('error').openapi({ description: 'The frame the client sent was refused; the socket stays open.' }),
    code: z.enum(FRAME_ERROR_CODES).openapi({
      description: `\`invalid_frame\`: not JSON text, refused by the JSON rules of request bodies, or not a \`ClientFrame\`. \`rate_limited\`: more frames than the session's \`frames_per_second\` on this socket (default ${FRAME_RATE.perSecond} a second, bursts of ${FRAME_RATE.burst}); the frame was dropped, send it again after \`retry_after_ms\`. ${ABUSE_LIMIT.refusedFrames} refused frames within ${ABUSE_LIMIT.windowMs / 1000} s close the socket with 4029.`,
    }),
    detail: z.string().openapi({
      description: 'What is wrong, and where (an RFC 6901 JSON pointer), for a human.',
      example: 'Nested deeper than 10 levels at /payload/level',
    }),
    retry_after_ms: z
      .int()
      .min(1)
      .optional()
      .openapi({ description: 'With `rate_limited`: when the socket takes a frame again, in milliseconds.', example: 20 }),
    id: MessageIdSchema.optional().openapi({ description: 'The `id` the refused frame carried, when it had a well-formed one.' }),
  })
  .strict()
  .openapi('ErrorFrame', { description: 'Sent only to the client whose frame was refused; not sequenced, not broadcast.' });

export const PongFrameSchema = z
  .object({ type: z.literal('pong').openapi({ description: 'The answer to a `ping`.' }) })
  .strict()
  .openapi('PongFrame', { description: 'The answer to `{"type":"ping"}`, sent only to the client that pinged.' });

const rangeEnd = z.int().min(0);

export const WelcomeFrameSchema = z
  .object({
    type: z.literal('welcome').openapi({ description: 'The first frame on every socket.' }),
    epoch,
    seq: rangeEnd.openapi({
      description: 'The last `seq` given out when the socket joined (0: none yet). `participants` is the presence as of this `seq`.',
      example: 41,
    }),
    participants: z.array(z.string()).openapi({
      description:
        'Everyone present as of `seq`, each once however many sockets it has (`dev_…` or `client:…`); this socket is announced by a `presence` `joined` after it, unless its participant was present already.',
      example: ['client:agent-7', 'dev_8Kq2Wn5Rt7Yb1Xc4Vz9Lm3'],
    }),
    limits: z
      .object({
        max_frame_bytes: z
          .int()
          .openapi({ description: 'The largest frame this socket may send, in bytes (1009 beyond).', example: 65536 }),
        frames_per_second: z.int().openapi({ description: 'The token bucket refill rate per socket.', example: FRAME_RATE.perSecond }),
        frame_burst: z.int().openapi({ description: 'The token bucket size per socket.', example: FRAME_RATE.burst }),
        presence_grace_seconds: z
          .int()
          .openapi({ description: 'How long after an abrupt disconnect a participant is announced as `left`.', example: 15 }),
      })
      .strict()
      .openapi({ description: "This session's limits." }),
  })
  .strict()
  .openapi('WelcomeFrame', {
    description:
      'Sent first, to the joining socket only: the epoch, the presence snapshot and the `seq` it is consistent with. On a reconnect it is followed by `gap` (when needed), the replayed messages and `resumed`.',
  });

export const GapFrameSchema = z
  .object({
    type: z.literal('gap').openapi({ description: 'Messages the socket will not replay.' }),
    from_seq: seq.openapi({ description: 'The first `seq` not replayed.', example: 42 }),
    to_seq: seq.openapi({ description: 'The last `seq` not replayed.', example: 1041 }),
  })
  .strict()
  .openapi('GapFrame', {
    description: `Sent on a reconnect that missed more than the ${REPLAY_LIMIT.toLocaleString('en')} messages a socket replays, before the replay: read \`from_seq\`…\`to_seq\` from \`GET /v1/sessions/{id}/messages?after_seq=<from_seq − 1>\`. Messages past the plan's history retention are gone; the history page says from where it holds them.`,
  });

export const ResumedFrameSchema = z
  .object({
    type: z.literal('resumed').openapi({ description: 'The replay is over: what follows is live.' }),
    from_seq: seq.openapi({ description: 'The first `seq` replayed (`last_seq` + 1, or after the gap).', example: 1042 }),
    to_seq: rangeEnd.openapi({ description: 'The last `seq` replayed; `from_seq − 1` when nothing was missed.', example: 2041 }),
  })
  .strict()
  .openapi('ResumedFrame', {
    description: 'Sent after the replay on a socket opened with `last_seq` (in the same epoch), even when nothing was missed.',
  });

export const PublishedFrameSchema = z
  .object({
    type: z.literal('published').openapi({ description: 'The answer to a `message` frame that had an `id`.' }),
    id: MessageIdSchema,
    seq: seq.openapi({ description: 'The `seq` the message was broadcast with (the first time).' }),
    duplicate: z.boolean().openapi({ description: '`true` when this id had been published already and this copy was dropped.' }),
  })
  .strict()
  .openapi('PublishedFrame', {
    description: 'Sent to the publisher only, after it is broadcast (or recognised as a repeat): the message is stored and sequenced.',
  });

export const ServerFrameSchema = z
  .discriminatedUnion('type', [
    MessageFrameSchema,
    PresenceFrameSchema,
    WelcomeFrameSchema,
    GapFrameSchema,
    ResumedFrameSchema,
    PublishedFrameSchema,
    ErrorFrameSchema,
    PongFrameSchema,
  ])
  .openapi('ServerFrame', {
    description:
      'Every frame the server sends on a session socket: the broadcasts (`message`, `presence`: a `SessionMessage`, with a `seq`), and, to one client only, `welcome` first, `gap` and `resumed` around a replay, `published` for a message with an `id`, `error` for a refused frame and `pong` for a ping.',
  });

export const ClientFrameSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('message').openapi({ description: 'Publish to every participant.' }),
        id: MessageIdSchema.optional(),
        payload: jsonValue({ description: 'Any JSON to broadcast to every participant.' }),
      })
      .strict(),
    z
      .object({
        type: z.literal('ack').openapi({ description: 'Acknowledge what was processed (shown in the participant list).' }),
        seq: z.int().min(0).openapi({ description: 'The highest `seq` the client has processed.' }),
      })
      .strict(),
    z.object({ type: z.literal('ping').openapi({ description: 'Keep the socket alive; answered with a `pong`.' }) }).strict(),
  ])
  .openapi('ClientFrame', {
    description:
      'What a client may send: `{"type":"message","id":…,"payload":…}` to broadcast (with an `id`, answered with `published` and never broadcast twice), `{"type":"ack","seq":n}` to acknowledge, `{"type":"ping"}` (at least every 30 s) to keep the socket open. A ping sent exactly as `{"type":"ping"}` is answered with `{"type":"pong"}` without waking the session.',
  });

export type MessageFrame = z.infer<typeof MessageFrameSchema>;
export type PresenceFrame = z.infer<typeof PresenceFrameSchema>;
export type SessionMessage = z.infer<typeof SessionMessageSchema>;
export type ErrorFrame = z.infer<typeof ErrorFrameSchema>;
export type WelcomeFrame = z.infer<typeof WelcomeFrameSchema>;
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
