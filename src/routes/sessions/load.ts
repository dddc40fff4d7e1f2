/**
 * @module
 * Reading the session a request names: 404 when it is not the organisation's.
 */
import * as sessions from '../../db/sessions.ts';
import { notFound } from '../../errors.ts';

export async function loadSession(db: D1Database, orgId: string, id: string): Promise<sessions.SessionRecord> {
  const session = await sessions.getSession(db, orgId, id);
  if (!session) throw notFound('session', id);
  return session;
}
