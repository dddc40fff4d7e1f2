/**
 * Sessions for the realtime curves, opened through the generated client as a user would, and
 * their sockets' endpoints. Connect tokens are signed by the harness with the Worker's own minting
 * function and the run's secret (the tokens route would add a D1 write per socket, which is not
 * what these curves measure); connect verifies them exactly as it verifies the route's.
 */
import { createSwitchyardClient, sessionSocketProtocols, sessionSocketUrl } from '../../../generated/client.ts';
import { mintConnectToken } from '../../../src/lib/session-token.ts';
import { MAX_FRAMES_PER_SECOND } from '../../../src/schemas/realtime.ts';
import { MAX_PARTICIPANTS } from '../../../src/schemas/sessions.ts';
import type { Seed } from '../bench/seed.ts';
import type { Endpoint } from '../bench/ws-subscriber.ts';

export interface OpenedSession {
  sessionId: string;
  /** Whether the session holds more sockets than the API allows (the bench lifted the cap in its own row). */
  capLifted: boolean;
}

/**
 * Opens a session for `sockets` sockets. Past MAX_PARTICIPANTS the API refuses such a session, and
 * so does the CHECK on `sessions.max_participants` (migrations/0004): with `liftCap`, the bench
 * writes the larger limit into its own D1 row with SQLite's `ignore_check_constraints`, so the
 * room (which enforces the row's value) can be measured at that size with the shipped code.
 */
export async function openSession(base: URL, seed: Seed, db: D1Database, sockets: number, liftCap: boolean): Promise<OpenedSession> {
  const api = createSwitchyardClient({ baseUrl: base.origin, apiKey: seed.apiKey });
  const created = await api.POST('/v1/sessions', {
    // The publisher sends as fast as its window allows: the most frames a second a session may allow.
    body: { max_connections: Math.min(sockets, MAX_PARTICIPANTS), ttl_seconds: 3600, frames_per_second: MAX_FRAMES_PER_SECOND },
  });
  if (!created.data) throw new Error(`POST /v1/sessions answered ${created.response.status}: ${JSON.stringify(created.error)}`);
  const sessionId = created.data.id;
  if (sockets <= MAX_PARTICIPANTS) return { sessionId, capLifted: false };
  if (!liftCap) throw new Error(`a session holds at most ${MAX_PARTICIPANTS} sockets (MAX_PARTICIPANTS); ${sockets} asked`);
  await db.batch([
    db.prepare('PRAGMA ignore_check_constraints = ON'),
    db.prepare('UPDATE sessions SET max_participants = ?2 WHERE id = ?1').bind(sessionId, sockets),
    db.prepare('PRAGMA ignore_check_constraints = OFF'),
  ]);
  return { sessionId, capLifted: true };
}

/** Ends the session: the room closes every socket (4000) without a presence broadcast per socket. */
export async function endSession(base: URL, seed: Seed, sessionId: string): Promise<void> {
  const api = createSwitchyardClient({ baseUrl: base.origin, apiKey: seed.apiKey });
  const ended = await api.POST('/v1/sessions/{id}/end', { params: { path: { id: sessionId } } });
  if (!ended.data) throw new Error(`ending session ${sessionId} answered ${ended.response.status}: ${JSON.stringify(ended.error)}`);
}

/** One endpoint per participant: the connect URL and subprotocols openSessionSocket (generated/client.ts) uses. */
export async function participantEndpoints(
  base: URL,
  secret: string,
  seed: Seed,
  sessionId: string,
  participants: readonly string[],
): Promise<Endpoint[]> {
  const url = sessionSocketUrl({ baseUrl: base, sessionId });
  return Promise.all(
    participants.map(async (participant) => {
      const { token } = await mintConnectToken(secret, { participant, sessionId, orgId: seed.orgId, keyId: seed.keyId, ttlSeconds: 900 });
      return { url, protocols: sessionSocketProtocols(token) };
    }),
  );
}
