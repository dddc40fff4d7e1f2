/**
 * @module
 * Sessions as the API shows them.
 */
import type { z } from '@hono/zod-openapi';
import { effectiveSession, getSession, type SessionRecord } from '../../db/sessions.ts';
import { ApiError } from '../../errors.ts';
import type { SessionSchema } from '../../schemas/sessions.ts';

export function presentSession(session: SessionRecord, now: string): z.infer<typeof SessionSchema> {
  const effective = effectiveSession(session, now);
  return {
    id: effective.id,
    status: effective.status,
    allowed_device_ids: effective.allowedDeviceIds,
    max_participants: effective.maxParticipants,
    expires_at: effective.expiresAt,
    ended_at: effective.endedAt,
    end_reason: effective.endReason,
    created_at: effective.createdAt,
  };
}

export function sessionLocation(id: string): string {
  return `/v1/sessions/${id}`;
}

export async function findSession(db: D1Database, orgId: string, id: string): Promise<SessionRecord> {
  const session = await getSession(db, orgId, id);
  if (!session) throw new ApiError('not_found', { detail: `No session ${id}.` });
  return session;
}
