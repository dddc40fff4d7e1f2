/**
 * @module
 * Sessions as the API shows them.
 */
import type { z } from '@hono/zod-openapi';
import * as sessions from '../../db/sessions.ts';
import type { SessionSchema } from '../../schemas/sessions.ts';

export function presentSession(session: sessions.SessionRecord, now: string): z.infer<typeof SessionSchema> {
  const effective = sessions.effectiveSession(session, now);
  return {
    id: effective.id,
    status: effective.status,
    allowed_device_ids: effective.allowedDeviceIds,
    max_connections: effective.maxParticipants,
    expires_at: effective.expiresAt,
    ended_at: effective.endedAt,
    end_reason: effective.endReason,
    created_at: effective.createdAt,
    presence_grace_seconds: effective.presenceGraceSeconds,
    max_frame_bytes: effective.maxFrameBytes,
    frames_per_second: effective.framesPerSecond,
    history: { max_messages: effective.historyMaxMessages, max_age_seconds: effective.historyMaxAgeSeconds },
  };
}

export function sessionLocation(id: string): string {
  return `/v1/sessions/${id}`;
}
