// The hand-written part of generated/client.ts. `npm run spec` copies this file there below a
// "Generated" header, pointing its imports at the generated files and writing SUBPROTOCOL in as a
// literal (the client must not import the Worker's source). Edit this file, not the copy.

import createClient, { type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, paths } from '../generated/api.ts';
import { SUBPROTOCOL } from '../src/schemas/realtime.ts';

export type { components, operations, paths } from '../generated/api.ts';

export interface SwitchyardClientOptions extends ClientOptions {
  /** An API key (`sy_live_…` / `sy_test_…`), sent as `Authorization: Bearer <key>` on every request. */
  apiKey?: string;
}

/**
 * A typed client for the Switchyard API: paths, parameters, bodies and responses (problem
 * documents included) are checked against the OpenAPI document at compile time.
 *
 * @example
 * const api = createSwitchyardClient({ baseUrl: 'http://127.0.0.1:8787', apiKey: process.env.SWITCHYARD_API_KEY })
 * const { data, error } = await api.GET('/health')
 */
export function createSwitchyardClient(options: SwitchyardClientOptions = {}) {
  const { apiKey, ...clientOptions } = options;
  const client = createClient<paths>(clientOptions);
  if (apiKey !== undefined) {
    const authenticate: Middleware = {
      onRequest({ request }) {
        request.headers.set('Authorization', `Bearer ${apiKey}`);
        return request;
      },
    };
    client.use(authenticate);
  }
  return client;
}

export type SwitchyardClient = ReturnType<typeof createSwitchyardClient>;

/** Every frame the server sends on a session socket: a `SessionMessage`, an `error` or a `pong`. */
export type ServerFrame = components['schemas']['ServerFrame'];
/** What the server broadcasts to a session (`message`, `presence`): sequenced, kept and replayed. */
export type SessionMessage = components['schemas']['SessionMessage'];
/** What a client may send on a session socket: `message`, `ack` or `ping`. */
export type ClientFrame = components['schemas']['ClientFrame'];

export interface SessionSocketAddress {
  /** The API's base URL, e.g. `http://127.0.0.1:8787`. */
  baseUrl: string | URL;
  sessionId: string;
  /** The highest `seq` already processed: the server replays what came after it. */
  lastSeq?: number;
  /**
   * The connect token as `?token=`, for a client that cannot offer subprotocols. Prefer
   * {@link sessionSocketProtocols}, which keeps the token out of URLs.
   */
  queryToken?: string;
  /**
   * `ws` (the default) for a WebSocket constructor; `http` for the Workers runtime's
   * `fetch(url, { headers: { Upgrade: 'websocket' } })`, which takes an http(s) URL. Secure
   * (wss: / https:) when the base URL is https: or wss:.
   */
  scheme?: 'ws' | 'http';
}

/** Where a session's WebSocket connects. */
export function sessionSocketUrl(address: SessionSocketAddress): URL {
  const url = new URL(`/v1/sessions/${encodeURIComponent(address.sessionId)}/connect`, address.baseUrl);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  if (address.scheme === 'http') url.protocol = secure ? 'https:' : 'http:';
  else url.protocol = secure ? 'wss:' : 'ws:';
  if (address.lastSeq !== undefined) url.searchParams.set('last_seq', String(address.lastSeq));
  if (address.queryToken !== undefined) url.searchParams.set('token', address.queryToken);
  return url;
}

/**
 * The subprotocols a session socket offers: the protocol, then the connect token (so it never
 * appears in a URL). As a header: `Sec-WebSocket-Protocol: ${sessionSocketProtocols(token).join(', ')}`.
 */
export function sessionSocketProtocols(token: string): string[] {
  return [SUBPROTOCOL, token];
}

export interface SessionSocketOptions extends Pick<SessionSocketAddress, 'baseUrl' | 'sessionId' | 'lastSeq'> {
  /** A connect token from `POST /v1/sessions/{id}/tokens`. */
  token: string;
  /** A WebSocket implementation; the platform's by default (browsers, Node 22+, Workers). */
  WebSocket?: typeof WebSocket;
}

/**
 * Opens a session's WebSocket with the connect token as a subprotocol (so it never appears in a URL).
 *
 * @example
 * const socket = openSessionSocket({ baseUrl, sessionId, token })
 * socket.addEventListener('message', (event) => { const frame: ServerFrame = JSON.parse(event.data) })
 * socket.send(JSON.stringify({ type: 'message', payload: { text: 'hi' } } satisfies ClientFrame))
 */
export function openSessionSocket(options: SessionSocketOptions): WebSocket {
  const Implementation = options.WebSocket ?? globalThis.WebSocket;
  return new Implementation(sessionSocketUrl(options).href, sessionSocketProtocols(options.token));
}
