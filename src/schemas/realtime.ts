/**
 * @module
 * The WebSocket protocol of a session: every frame the server sends ({@link ServerFrameSchema}) and
 * every frame a client may send ({@link ClientFrameSchema}). Documented as components of the spec;
 * the room builds its frames as a `ServerFrame` and the tests decode what they receive with this
 * schema, so a frame the spec does not declare cannot be sent unnoticed.
 */
import { z } from '@hono/zod-openapi';

export const MAX_FRAME_BYTES = 1024 * 1024;
export const SUBPROTOCOL = 'switchyard.v1';

/** Close codes the server uses, besides the standard 1009 (message too big). */
export const CLOSE_CODES = {
  sessionEnded: 4000,
  sessionExpired: 4001,
  /** The participant's device was disabled or deleted. */
  participantRemoved: 4003,
  stale: 4008,
} as const;

/** Codes of the error frames the server sends; the socket stays open after each. */
export const FRAME_ERROR_CODES = ['invalid_frame'] as const;

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
    payload: z
      .unknown()
      .refine((value) => value !== undefined, 'Required')
      .openapi({ description: 'What the sender published: any JSON.', example: { text: 'hello' } }),
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
      description: '`invalid_frame`: not JSON text, refused by the JSON rules of request bodies, or not a `ClientFrame`.',
    }),
    detail: z.string().openapi({
      description: 'What is wrong, and where (an RFC 6901 JSON pointer), for a human.',
      example: 'Nested deeper than 10 levels at /payload/level',
    }),
  })
  .strict()
  .openapi('ErrorFrame', { description: 'Sent only to the client whose frame was refused; not sequenced, not broadcast.' });

export const PongFrameSchema = z
  .object({ type: z.literal('pong').openapi({ description: 'The answer to a `ping`.' }) })
  .strict()
  .openapi('PongFrame', { description: 'The answer to `{"type":"ping"}`, sent only to the client that pinged.' });

export const ServerFrameSchema = z
  .discriminatedUnion('type', [MessageFrameSchema, PresenceFrameSchema, ErrorFrameSchema, PongFrameSchema])
  .openapi('ServerFrame', {
    description:
      'Every frame the server sends on a session socket: the broadcasts (`message`, `presence`: a `SessionMessage`, with a `seq`), and, to one client only, `error` for a refused frame and `pong` for a ping.',
  });

export const ClientFrameSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('message').openapi({ description: 'Publish to every participant.' }),
        payload: z
          .unknown()
          .refine((value) => value !== undefined, 'Required')
          .openapi({ description: 'Any JSON to broadcast to every participant.' }),
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
      'What a client may send: `{"type":"message","payload":…}` to broadcast, `{"type":"ack","seq":n}` to acknowledge, `{"type":"ping"}` (at least every 30 s) to keep the socket open. A ping sent exactly as `{"type":"ping"}` is answered with `{"type":"pong"}` without waking the session.',
  });

export type MessageFrame = z.infer<typeof MessageFrameSchema>;
export type PresenceFrame = z.infer<typeof PresenceFrameSchema>;
export type SessionMessage = z.infer<typeof SessionMessageSchema>;
export type ErrorFrame = z.infer<typeof ErrorFrameSchema>;
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
