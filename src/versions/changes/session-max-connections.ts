/**
 * @module
 * 2026-12-08: a session's `max_participants` is renamed `max_connections`. The limit has always
 * counted sockets, not participants (a participant connected twice takes two), so the old name
 * misled integrators sizing sessions by head count into `session_full` refusals. A client pinned to
 * 2026-12-01 keeps sending and reading `max_participants`, sessions inside events and webhooks included.
 */
import type { Json, JsonObject, VersionChange } from '../change.ts';

const NEW = 'max_connections';
const OLD = 'max_participants';

/** `from` renamed `to`, in its place (the order a client sees does not change). */
function renamed(object: JsonObject, from: string, to: string): JsonObject {
  if (!(from in object) || to in object) return object;
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key === from ? to : key, value]));
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const oldSession = (session: JsonObject): JsonObject => renamed(session, NEW, OLD);

/** A session inside an event (session.created, session.ended); other events carry no session. */
function oldEvent(event: JsonObject): JsonObject {
  const { type, data } = event;
  if ((type !== 'session.created' && type !== 'session.ended') || !isObject(data)) return event;
  return { ...event, data: oldSession(data) };
}

/** A list's items, each through `item`. */
function eachItem(item: (object: JsonObject) => JsonObject): (page: JsonObject) => JsonObject {
  return (page) => (Array.isArray(page.data) ? { ...page, data: page.data.map((each) => (isObject(each) ? item(each) : each)) } : page);
}

export const sessionMaxConnections: VersionChange = {
  name: 'session-max-connections',
  description:
    'Sessions: `max_participants` is renamed `max_connections`, in the request that opens a session and wherever a session is shown (its responses, and `data` of the `session.created` and `session.ended` events and webhooks). It always counted sockets, not participants.',
  responses: {
    createSession: oldSession,
    getSession: oldSession,
    endSession: oldSession,
    listSessions: eachItem(oldSession),
    getEvent: oldEvent,
    listEvents: eachItem(oldEvent),
    sessionCreatedWebhook: oldEvent,
    sessionEndedWebhook: oldEvent,
  },
  requests: {
    createSession: (body) => renamed(body, OLD, NEW),
  },
};
