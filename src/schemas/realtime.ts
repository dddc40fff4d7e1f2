/**
 * @module
 * The WebSocket protocol of a session: what the server sends (one envelope for everything that
 * is broadcast) and what a client may send. Documented as components of the spec.
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

export const SessionMessageSchema = z
  .object({
    type: z
      .enum(['message', 'presence'])
      .openapi({ description: '`message`: published by a participant or the server; `presence`: someone joined or left.' }),
    seq: z
      .int()
      .min(1)
      .openapi({ description: 'Per-session sequence number: every broadcast gets the next one, so clients see one order.', example: 42 }),
    sender: z.string().openapi({
      description: 'Who sent it: the participant (`dev_…` or `client:…`), or `server` for the HTTP API.',
      example: 'client:agent-7',
    }),
    payload: z.unknown().openapi({
      description: 'For `message`, what the sender published (any JSON); for `presence`, `{ "event": "joined" | "left" }`.',
      example: { text: 'hello' },
    }),
    ts: z.iso.datetime().openapi({ description: 'When the server sequenced it (UTC).', example: '2026-11-29T06:00:00.000Z' }),
  })
  .openapi('SessionMessage', { description: 'The envelope of every frame the server broadcasts to a session.' });

export const ClientFrameSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('message'),
        payload: z
          .unknown()
          .refine((value) => value !== undefined, 'Required')
          .openapi({ description: 'Any JSON to broadcast to every participant.' }),
      })
      .strict(),
    z
      .object({ type: z.literal('ack'), seq: z.int().min(0).openapi({ description: 'The highest `seq` the client has processed.' }) })
      .strict(),
  ])
  .openapi('ClientFrame', {
    description:
      'What a client may send: `{"type":"message","payload":…}` to broadcast, `{"type":"ack","seq":n}` to acknowledge. `{"type":"ping"}` is answered with `{"type":"pong"}` without waking the session.',
  });

export type SessionMessage = z.infer<typeof SessionMessageSchema>;
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
