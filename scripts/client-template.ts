// The hand-written part of generated/client.ts. `npm run spec` copies this file there below a
// "Generated" header, pointing its imports at the generated files and writing API_VERSION,
// NEWEST_API_VERSION, SUBPROTOCOL and CLOSE_CODE_TABLE in as literals (the client must not import the Worker's source).
// Edit this file, not the copy.

import createClient, { type ClientOptions, type FetchOptions, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from '../generated/api.ts';
import { importSigningKey, type PrivateJwk, type RequestSigner, type SigningKey, signRequest } from '../src/lib/http-signature.ts';
import { API_VERSION } from '../src/openapi.ts';
import { CLOSE_CODE_TABLE, SUBPROTOCOL } from '../src/schemas/realtime.ts';
import { NEWEST_API_VERSION } from '../src/versions/versions.ts';

export type { components, operations, paths } from '../generated/api.ts';

/**
 * The client's version: the API document's `info.version` it was generated from, which is also the
 * npm package's version. Sent as `User-Agent: switchyard-client/<version>`.
 */
export const CLIENT_VERSION = API_VERSION;
const CLIENT_NAME = `switchyard-client/${CLIENT_VERSION}`;

type Schemas = components['schemas'];

/** Every problem `code` the API documents: the union of the `code`s of the catalogue's `Problem…` schemas. */
export type ProblemCode = {
  [Name in keyof Schemas]: Name extends `Problem${string}` ? (Schemas[Name] extends { code: infer Code } ? Code : never) : never;
}[keyof Schemas];

/** A problem document (RFC 9457) as the API sends it, whatever its status. */
export type Problem = Extract<Schemas[keyof Schemas & `Problem${string}`], { code: ProblemCode }>;

/** The API answered with an error status. Thrown by {@link unwrap} and {@link paginate}. */
export class SwitchyardApiError extends Error {
  readonly status: number;
  /** The problem's `code`; undefined when the body is not a Switchyard problem (e.g. a proxy's error page). */
  readonly code: ProblemCode | undefined;
  /** The request's id (`X-Request-Id`, or the problem's `request_id`): quote it to support. */
  readonly requestId: string | undefined;
  /** The problem document, when the body was one. */
  readonly problem: Problem | undefined;
  readonly response: Response;
  constructor(response: Response, body: unknown) {
    const problem = isProblem(body) ? body : undefined;
    super(problem ? `${response.status} ${problem.code}: ${problem.detail ?? problem.title}` : `${response.status} ${response.statusText}`);
    this.name = 'SwitchyardApiError';
    this.status = response.status;
    this.code = problem?.code;
    this.requestId = response.headers.get('X-Request-Id') ?? problem?.request_id ?? undefined;
    this.problem = problem;
    this.response = response;
  }
}

/** The call took longer than its timeout (the client's `timeoutMs`, or a `signal` that timed out). */
export class SwitchyardTimeoutError extends Error {
  readonly timeoutMs: number | undefined;
  constructor(timeoutMs: number | undefined, options?: { cause: unknown }) {
    super(timeoutMs === undefined ? 'the request timed out' : `the request did not complete within ${timeoutMs} ms`, options);
    this.name = 'SwitchyardTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The request never got an HTTP response (DNS, refused or reset connection…), after any retries. */
export class SwitchyardConnectionError extends Error {
  constructor(cause: unknown) {
    super(`could not reach the Switchyard API: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'SwitchyardConnectionError';
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' && 'status' in body;
}

/** What the debug hook sees: each attempt sent, each response received, each retry scheduled. */
export type SwitchyardDebugEvent =
  | { type: 'request'; attempt: number; method: string; url: string; headers: Headers }
  | { type: 'response'; attempt: number; method: string; url: string; status: number; durationMs: number; requestId: string | null }
  | { type: 'retry'; attempt: number; method: string; url: string; delayMs: number; reason: string }
  | { type: 'error'; attempt: number; method: string; url: string; error: unknown };

export interface RetryPolicy {
  /** Attempts per call, the first included; 1 turns retries off. Default 3. */
  maxAttempts: number;
  /** The first retry waits a random time up to this (full jitter); the bound doubles with each retry. Default 500 ms. */
  baseDelayMs: number;
  /** The bound stops growing here. Default 10 s. */
  maxDelayMs: number;
  /** A `Retry-After` longer than this is not waited for: the response is returned as it is. Default 60 s. */
  maxRetryAfterMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };
const DEFAULT_TIMEOUT_MS = 30_000;
/** Methods that change something: each call gets an Idempotency-Key, so that it is safe to retry. */
const KEYED_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Methods safe to repeat without a key. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const RETRIED_STATUSES = new Set([429, 503, 504]);
/**
 * Where the API hands out a bookmark of the database state a response saw, and takes it back on a
 * later request. Checked against the API document's parameter: a renamed header fails to compile here.
 */
const BOOKMARK_HEADER = 'Switchyard-Bookmark' satisfies keyof NonNullable<operations['listDevices']['parameters']['header']>;
/** Where a request names the dated API version it is rendered in, and every response the version it was. */
const API_VERSION_HEADER = 'Switchyard-Version' satisfies keyof NonNullable<operations['listDevices']['parameters']['header']>;

/** A dated version of the API (`YYYY-MM-DD`), as the API document lists them. */
export type ApiVersion = NonNullable<NonNullable<operations['listDevices']['parameters']['header']>[typeof API_VERSION_HEADER]>;

/** The version this client was generated from: its types describe it, and it is sent unless told otherwise. */
export const CLIENT_API_VERSION: ApiVersion = NEWEST_API_VERSION;

export interface SwitchyardClientOptions extends ClientOptions {
  /** An API key (`sy_live_…` / `sy_test_…`), sent as `Authorization: Bearer <key>` on every request. */
  apiKey?: string;
  /**
   * Each POST, PUT, PATCH and DELETE without an `Idempotency-Key` header gets a random one (a UUID), kept
   * across the client's retries of that call, so a retry after a lost reply replays the first
   * answer instead of making the change twice. A key the caller sets is kept. Default true.
   */
  idempotencyKeys?: boolean;
  /**
   * Retries of 429, 503, 504, 409 `idempotency_key_in_use` and network errors, only for requests
   * safe to repeat (GET/HEAD/OPTIONS, or any carrying an Idempotency-Key): `Retry-After` when the
   * response has one, otherwise exponential backoff with full jitter. `false` turns retries off.
   */
  retry?: Partial<RetryPolicy> | false;
  /**
   * How long a call may take, retries and their waits included, before it fails with a
   * {@link SwitchyardTimeoutError}. Default 30 s. Per call, a `signal` (e.g. `AbortSignal.timeout(5_000)`)
   * ends it sooner; a signal that times out also surfaces as a SwitchyardTimeoutError.
   */
  timeoutMs?: number;
  /**
   * Sees every attempt, response, retry and network error, e.g. `debug: (event) => console.debug(event)`.
   * Headers are the ones sent, the `Authorization` header included: redact before logging them.
   */
  debug?: (event: SwitchyardDebugEvent) => void;
  /** How the client waits between attempts; for tests. Rejects with `signal.reason` if the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Read-your-writes: the client keeps the newest `Switchyard-Bookmark` its responses carried and
   * sends it on each later request, so a read after a change sees that change even when a database
   * replica serves it. One per client: create one client per user or job whose writes its reads must
   * see. A request that sets the header itself keeps its own; a bookmark the API refuses
   * (`invalid_bookmark`) is forgotten. `false` sends none: reads may then lag changes a little. Default true.
   */
  bookmarks?: boolean;
  /**
   * Signs every request that is not a GET, HEAD or OPTIONS (RFC 9421, Ed25519): `keyId` is a
   * signing key registered at `/v1/signing-keys`, `privateKey` its private half, as a WebCrypto
   * `CryptoKey` (Ed25519, usage `sign`) or a JWK (`{ kty: 'OKP', crv: 'Ed25519', d, x }`). Each
   * attempt gets `Content-Digest`, `Signature-Input` and `Signature` anew, with a fresh nonce, so a
   * retry is never refused as a replay. Needed for sensitive operations once the organisation
   * requires signed requests; harmless on the others. The private key stays in the client.
   */
  signing?: { keyId: string; privateKey: SigningKey | PrivateJwk };
  /**
   * The dated API version every request is rendered in, sent as `Switchyard-Version`. Default
   * {@link CLIENT_API_VERSION}, the one this client's types describe: pin an older one while you
   * move to the new, or `null` to send none and get the organisation's default version (whose
   * bodies these types may then not describe). A request that sets the header itself keeps its own.
   */
  apiVersion?: ApiVersion | null;
}

/**
 * A typed client for the Switchyard API: paths, parameters, bodies and responses (problem
 * documents included) are checked against the OpenAPI document at compile time. It adds an
 * Idempotency-Key to each write, retries what is safe to retry, bounds each call with a timeout,
 * and names itself in `User-Agent`. Pair it with {@link unwrap} to get data or a thrown
 * {@link SwitchyardApiError}, and {@link paginate} to walk a list.
 *
 * @example
 * const api = createSwitchyardClient({ baseUrl: 'http://127.0.0.1:8787', apiKey: process.env.SWITCHYARD_API_KEY })
 * const device = unwrap(await api.POST('/v1/devices', { body: { name: 'Front desk', kind: 'browser' } }))
 * for await (const each of paginate(api, '/v1/devices', { params: { query: { limit: 100 } } })) console.log(each.id)
 */
export function createSwitchyardClient(options: SwitchyardClientOptions = {}) {
  const {
    apiKey,
    idempotencyKeys = true,
    retry,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    debug,
    sleep,
    bookmarks = true,
    signing,
    apiVersion = CLIENT_API_VERSION,
    ...clientOptions
  } = options;
  const retryPolicy: RetryPolicy = retry === false ? { ...DEFAULT_RETRY, maxAttempts: 1 } : { ...DEFAULT_RETRY, ...retry };
  // Retries, timeouts and the debug hook sit in the fetch openapi-fetch calls, not in a middleware:
  // middleware runs once per call, so a middleware registered later (a logger, a contract check) sees
  // the call's final response, and the Idempotency-Key set below is the same on every attempt.
  const client = createClient<paths>({
    ...clientOptions,
    fetch: resilientFetch({
      fetch: clientOptions.fetch ?? ((request) => globalThis.fetch(request)),
      retry: retryPolicy,
      timeoutMs,
      debug: debug ?? (() => {}),
      sleep: sleep ?? abortableSleep,
      sign: signing === undefined ? undefined : requestSigner(signing),
    }),
  });
  const identify: Middleware = {
    onRequest({ request }) {
      if (apiKey !== undefined) request.headers.set('Authorization', `Bearer ${apiKey}`);
      // A User-Agent the caller set (an app naming itself) is kept. Browsers refuse to let a page set
      // User-Agent at all and send their own, so the client also names itself in a header of its own.
      if (!request.headers.has('User-Agent')) request.headers.set('User-Agent', CLIENT_NAME);
      request.headers.set('X-Switchyard-Client', CLIENT_NAME);
      if (apiVersion !== null && !request.headers.has(API_VERSION_HEADER)) request.headers.set(API_VERSION_HEADER, apiVersion);
      if (idempotencyKeys && KEYED_METHODS.has(request.method) && !request.headers.has('Idempotency-Key')) {
        request.headers.set('Idempotency-Key', crypto.randomUUID());
      }
      return request;
    },
  };
  client.use(identify);
  if (bookmarks) client.use(bookmarkKeeper());
  return client;
}

/**
 * The middleware that carries a client's bookmark from response to request. The greatest one seen
 * wins (bookmarks sort oldest first): with several calls in flight, an older answer arriving last
 * must not take the client back to before a change it has seen.
 */
function bookmarkKeeper(): Middleware {
  let newest: string | undefined;
  return {
    onRequest({ request }) {
      if (newest !== undefined && !request.headers.has(BOOKMARK_HEADER)) request.headers.set(BOOKMARK_HEADER, newest);
      return request;
    },
    async onResponse({ request, response }) {
      const bookmark = response.headers.get(BOOKMARK_HEADER);
      if (bookmark !== null && (newest === undefined || bookmark > newest)) newest = bookmark;
      else if (response.status === 400 && request.headers.get(BOOKMARK_HEADER) === newest) {
        // Read only when it may be the refusal of the bookmark this client sent.
        const body: unknown = await response
          .clone()
          .json()
          .catch(() => undefined);
        if (isProblem(body) && body.code === 'invalid_bookmark') newest = undefined;
      }
      return response;
    },
  };
}

export type SwitchyardClient = ReturnType<typeof createSwitchyardClient>;

interface ResilientFetchSettings {
  fetch: (request: Request) => Promise<Response>;
  retry: RetryPolicy;
  timeoutMs: number;
  debug: (event: SwitchyardDebugEvent) => void;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Signs an attempt of a request that is not safe, given its body. */
  sign: ((request: Request, body: Uint8Array<ArrayBuffer>) => Promise<void>) | undefined;
}

/** What signs a client's attempts: a JWK is imported once, on the first request that needs it. */
function requestSigner(signing: { keyId: string; privateKey: SigningKey | PrivateJwk }) {
  let signer: Promise<RequestSigner> | undefined;
  // A JWK names its key type; a CryptoKey has no `kty`.
  const isJwk = (key: SigningKey | PrivateJwk): key is PrivateJwk => typeof (key as PrivateJwk).kty === 'string';
  return async (request: Request, body: Uint8Array<ArrayBuffer>): Promise<void> => {
    const { keyId, privateKey } = signing;
    signer ??= Promise.resolve(isJwk(privateKey) ? importSigningKey(privateKey) : privateKey).then((key) => ({ keyId, privateKey: key }));
    await signRequest(request, body, await signer);
  };
}

/** A fetch that makes up to `retry.maxAttempts` attempts of a request within one deadline. */
function resilientFetch(settings: ResilientFetchSettings): (request: Request) => Promise<Response> {
  return async function sendWithRetries(request) {
    const { method, url } = request;
    const repeatable = SAFE_METHODS.has(method) || request.headers.has('Idempotency-Key');
    // Read once so that each attempt can send it again (a body stream can be read only once).
    const body = request.body === null ? null : await request.arrayBuffer();
    const deadline = callDeadline(request.signal, settings.timeoutMs);
    try {
      for (let attempt = 1; ; attempt += 1) {
        const last = !repeatable || attempt >= settings.retry.maxAttempts;
        const attemptRequest = new Request(url, {
          method,
          headers: request.headers,
          body,
          redirect: request.redirect,
          signal: deadline.signal,
        });
        // Per attempt: a signature's nonce is accepted once, so a retry carries a new one.
        if (settings.sign !== undefined && !SAFE_METHODS.has(method)) {
          await settings.sign(attemptRequest, new Uint8Array(body ?? new ArrayBuffer(0)));
        }
        settings.debug({ type: 'request', attempt, method, url, headers: attemptRequest.headers });
        const startedAt = Date.now();
        let response: Response;
        try {
          response = await untilAborted(settings.fetch(attemptRequest), deadline.signal);
        } catch (error) {
          if (deadline.signal.aborted) throw deadline.failure();
          settings.debug({ type: 'error', attempt, method, url, error });
          if (last) throw new SwitchyardConnectionError(error);
          await wait(settings, deadline, { attempt, method, url, delayMs: backoffDelay(settings.retry, attempt), reason: 'network error' });
          continue;
        }
        const requestId = response.headers.get('X-Request-Id');
        settings.debug({ type: 'response', attempt, method, url, status: response.status, durationMs: Date.now() - startedAt, requestId });
        const reason = await retryReason(response);
        if (last || reason === undefined) return response;
        const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
        if (retryAfterMs !== undefined && retryAfterMs > settings.retry.maxRetryAfterMs) return response;
        // Not read: let the connection go before waiting.
        await response.body?.cancel();
        await wait(settings, deadline, { attempt, method, url, delayMs: retryAfterMs ?? backoffDelay(settings.retry, attempt), reason });
      }
    } finally {
      deadline.dispose();
    }
  };
}

async function wait(
  settings: ResilientFetchSettings,
  deadline: CallDeadline,
  retry: { attempt: number; method: string; url: string; delayMs: number; reason: string },
): Promise<void> {
  settings.debug({ type: 'retry', ...retry });
  try {
    await settings.sleep(retry.delayMs, deadline.signal);
  } catch (error) {
    if (deadline.signal.aborted) throw deadline.failure();
    throw error;
  }
}

/** Why a response is worth another attempt, or undefined when it is not. */
async function retryReason(response: Response): Promise<string | undefined> {
  if (RETRIED_STATUSES.has(response.status)) return `status ${response.status}`;
  if (response.status !== 409) return undefined;
  // 409 is retried only while the key's first request is in flight; other conflicts are final.
  const body: unknown = await response
    .clone()
    .json()
    .catch(() => undefined);
  return isProblem(body) && body.code === 'idempotency_key_in_use' ? 'idempotency_key_in_use' : undefined;
}

/** Full jitter: a random wait up to a bound that doubles with each attempt (AWS's "Exponential Backoff And Jitter"). */
function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

interface CallDeadline {
  /** Aborts when the call times out or the caller's signal aborts. */
  signal: AbortSignal;
  /** What to throw once `signal` has aborted. */
  failure(): unknown;
  dispose(): void;
}

function callDeadline(callerSignal: AbortSignal | null | undefined, timeoutMs: number): CallDeadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = Number.isFinite(timeoutMs)
    ? setTimeout(() => {
        timedOut = true;
        controller.abort(new SwitchyardTimeoutError(timeoutMs));
      }, timeoutMs)
    : undefined;
  const follow = () => controller.abort(callerSignal?.reason);
  if (callerSignal?.aborted) follow();
  else callerSignal?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    failure() {
      if (timedOut) return controller.signal.reason;
      const reason: unknown = callerSignal?.reason;
      // AbortSignal.timeout() aborts with a DOMException named TimeoutError.
      if (reason instanceof Error && reason.name === 'TimeoutError') return new SwitchyardTimeoutError(undefined, { cause: reason });
      return reason;
    },
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      callerSignal?.removeEventListener('abort', follow);
    },
  };
}

/** `promise`, or a rejection as soon as `signal` aborts: not every fetch (a test double, a binding) honours a signal. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return untilAborted(new Promise<void>((resolve) => setTimeout(resolve, ms)), signal);
}

/** What openapi-fetch resolves with: data on a 2xx, the parsed error body otherwise. */
type ClientResult<Data> = { data: Data; error?: never; response: Response } | { data?: never; error: unknown; response: Response };

/**
 * The data of a successful call, or a thrown {@link SwitchyardApiError} (with the problem's `code`,
 * `status` and `requestId`) for an error status.
 *
 * @example
 * try { const device = unwrap(await api.GET('/v1/devices/{id}', { params: { path: { id } } })) }
 * catch (error) { if (error instanceof SwitchyardApiError && error.code === 'not_found') … }
 */
export function unwrap<Result extends ClientResult<unknown>>(result: Result): SuccessData<Result> {
  if (!result.response.ok) throw new SwitchyardApiError(result.response, result.error);
  // A 2xx: openapi-fetch filled `data` (undefined for a 204, as its type says).
  return result.data as SuccessData<Result>;
}

/** The `data` of a result's success branch (inferring from the whole union would add `undefined`, the error branch's). */
type SuccessData<Result> = Result extends { data: infer Data; error?: never } ? Data : never;

type ListPage = { data: unknown[]; next_cursor: string | null };

/** The paths whose GET answers a page: `{ data: [...], next_cursor }`. */
export type ListPath = {
  [Path in keyof paths]: paths[Path] extends { get: { responses: { 200: { content: { 'application/json': ListPage } } } } } ? Path : never;
}[keyof paths];

type ListOperation<Path extends ListPath> = paths[Path]['get'];
/** One item of a list operation's pages. */
export type ListItem<Path extends ListPath> = ListOperation<Path>['responses'][200]['content']['application/json']['data'][number];

/**
 * Every item of a list operation, page after page (following `next_cursor`), for `for await`.
 * A page that fails throws a {@link SwitchyardApiError}. `params.query.cursor` starts from a page.
 *
 * @example
 * for await (const device of paginate(api, '/v1/devices', { params: { query: { limit: 100, status: 'active' } } })) …
 */
export async function* paginate<Path extends ListPath>(
  api: SwitchyardClient,
  path: Path,
  init: FetchOptions<ListOperation<Path>> = {} as FetchOptions<ListOperation<Path>>,
): AsyncGenerator<ListItem<Path>, void, undefined> {
  // The generic path defeats openapi-fetch's per-path overloads; the signature above is what is checked.
  const get = api.GET as unknown as (path: string, init: object) => Promise<ClientResult<ListPage>>;
  const params = (init as { params?: { query?: Record<string, unknown> } }).params ?? {};
  let cursor = params.query?.cursor;
  do {
    const query = { ...params.query, ...(cursor === undefined ? {} : { cursor }) };
    const page = unwrap(await get(path, { ...init, params: { ...params, query } }));
    for (const item of page.data) yield item as ListItem<Path>;
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
}

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
  /** The `epoch` (from a `welcome`) that `lastSeq` counts in: in another epoch, nothing is replayed. */
  epoch?: string;
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
  if (address.epoch !== undefined) url.searchParams.set('epoch', address.epoch);
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

// ---------------------------------------------------------------------------------------------
// connectSession: a session socket that reconnects, resumes and publishes effectively once.
//
// Why not partysocket (Cloudflare's reconnecting WebSocket)? It would cover the socket-level part
// (backoff, and URL/protocol providers, so a fresh token per attempt is possible), but that is the
// small part. What makes this client correct sits above the socket and partysocket knows none of
// it: resuming from the last *processed* seq and epoch, filling gaps from history, dropping
// repeats by seq, keeping each message until its `published` and pacing resends to the session's
// frame rate (its own buffer replays raw frames blindly), stopping on final close codes
// (4000/4003/4004). It would also be the generated client's first runtime dependency besides
// openapi-fetch, and the tests must open sockets with `fetch` + `accept()` in the Workers runtime,
// which a WebSocket-constructor option would have to fake. So the socket part is ours: a
// `SessionTransport` of a few lines per platform.
// ---------------------------------------------------------------------------------------------

export type MessageFrame = components['schemas']['MessageFrame'];
export type PresenceFrame = components['schemas']['PresenceFrame'];
type WelcomeFrame = components['schemas']['WelcomeFrame'];
type ErrorFrame = components['schemas']['ErrorFrame'];
type PublishedFrame = components['schemas']['PublishedFrame'];
type SessionHistory = components['schemas']['SessionHistory'];

export type SessionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A run of sequence numbers, both ends included. */
export interface SeqRange {
  from: number;
  to: number;
}

/** How the client ended: the close code and reason (the client's own after `close()`). */
export interface SessionCloseEvent {
  code: number;
  reason: string;
}

/** What a published message became: its `seq`, and whether it had been published already (a resend). */
export interface Published {
  seq: number;
  duplicate: boolean;
}

/** How one socket ended, as a transport reports it. */
export interface TransportCloseEvent {
  code: number;
  reason: string;
  /** The HTTP status of a refused upgrade, when the transport can see it (the platform WebSocket cannot). */
  status?: number;
  /** The problem `code` of a refused upgrade (`session_ended`, `invalid_token`…), when the transport can read it. */
  problem?: string;
}

export interface TransportHandlers {
  /** The socket is open. */
  open(): void;
  /** A text frame arrived. */
  message(data: string): void;
  /** The socket closed, or never opened: called once, and nothing is called after it. */
  close(event: TransportCloseEvent): void;
}

export interface TransportSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens one socket to `url` offering `protocols`, reporting to `handlers`. */
export type SessionTransport = (url: URL, protocols: string[], handlers: TransportHandlers) => TransportSocket;

export interface BackoffPolicy {
  /** The first retry waits up to this long; each failure doubles it (full jitter: a random wait up to the bound). */
  baseMs: number;
  maxMs: number;
  /** A connection open this long was healthy: the next reconnect starts from `baseMs` again. */
  healthyAfterMs: number;
  /** After 4004 (the token's API key revoked), connect attempts refused (401) before giving up. */
  attemptsAfterRevocation: number;
}

export interface SessionTiming {
  /** A ping every this long while open (the server closes a socket silent for 60 s). */
  pingEveryMs: number;
  /** Nothing heard (not even a pong) for this long: the socket is dead, replace it. Checked at each ping. */
  silentLimitMs: number;
  /** Processed seqs are acknowledged at most this often. */
  ackEveryMs: number;
  /** From the upgrade request to the `welcome`. */
  connectTimeoutMs: number;
  /** How long `close()` waits for the server to answer the close. */
  closeTimeoutMs: number;
}

export interface ConnectSessionOptions {
  /** The API's base URL, e.g. `https://api.example.com`. */
  baseUrl: string | URL;
  sessionId: string;
  /** A fresh connect token (`POST /v1/sessions/{id}/tokens`), called before every connect attempt. */
  getToken: () => Promise<string>;
  /** Resume after this seq (of `epoch`), e.g. one saved from `lastSeq` by a previous run. */
  lastSeq?: number;
  epoch?: string;
  /**
   * Every message and presence event, each once, in `seq` order. The seq counts as processed once
   * this returns (or its promise settles): that is where a reconnect resumes.
   */
  onMessage: (message: SessionMessage) => void | Promise<void>;
  /**
   * A range read from history instead of the socket (`filled: true`, after its messages were
   * delivered), or lost for good: past the history's retention, or unreadable (`filled: false`).
   */
  onGap?: (range: SeqRange, filled: boolean) => void;
  onStateChange?: (state: SessionState) => void;
  /**
   * The stream restarted (another epoch, or a seq below the one resumed from): nothing was
   * replayed and counting starts again from `seq`.
   */
  onReset?: (stream: { epoch: string; seq: number; previousEpoch: string | undefined; previousSeq: number | undefined }) => void;
  /** Every frame as received, before the client handles it: for logging. */
  onFrame?: (frame: ServerFrame) => void;
  /** What went wrong without stopping the client: getToken or a handler threw, history could not be read. Default: console.error. */
  onError?: (error: unknown) => void;
  /** The API client history is read with (`GET /v1/sessions/{id}/messages`); built from `apiKey` and `fetch` when absent. */
  api?: SwitchyardClient;
  apiKey?: string;
  fetch?: ClientOptions['fetch'];
  /** How sockets are opened; by default the platform's WebSocket ({@link webSocketTransport}). */
  transport?: SessionTransport;
  backoff?: Partial<BackoffPolicy>;
  timing?: Partial<SessionTiming>;
  /** The pace outgoing frames are sent at; by default the session's (the `welcome`'s limits). */
  frameRate?: { perSecond: number; burst: number };
  /** Messages per history read, 1–1000. */
  historyPageSize?: number;
}

export interface SessionConnection {
  readonly state: SessionState;
  /** The last seq processed (handed to onMessage, or lost); undefined before the first `welcome`. */
  readonly lastSeq: number | undefined;
  readonly epoch: string | undefined;
  /**
   * Publishes `payload` (any JSON) with an id of its own, so that resending it (after a reconnect,
   * or a `rate_limited`) never publishes it twice. Kept while offline. Resolves with its `published`;
   * rejects with a {@link SessionSendError} if the server refuses it, a {@link SessionClosedError} if
   * the client closes first. After a `rate_limited`, messages may be sequenced in another order than sent.
   */
  send(payload: unknown): Promise<Published>;
  /** Closes with this code (1000, or 3000–4999) and stops reconnecting; resolves once the server answered. */
  close(code?: number, reason?: string): Promise<SessionCloseEvent>;
  /** Settles when the client stops for good: `close()`, a final close code, or no usable token after 4004. */
  readonly closed: Promise<SessionCloseEvent>;
}

/** The client closed (or the server ended the session) before the message was published. */
export class SessionClosedError extends Error {
  readonly code: number;
  constructor(event: SessionCloseEvent) {
    super(`the session connection closed (${event.code} ${event.reason}) before the message was published`);
    this.name = 'SessionClosedError';
    this.code = event.code;
  }
}

/** The server refused a message (`invalid_frame`), or it is larger than the session allows (`frame_too_big`). */
export class SessionSendError extends Error {
  readonly code: 'invalid_frame' | 'frame_too_big';
  constructor(code: 'invalid_frame' | 'frame_too_big', detail: string) {
    super(detail);
    this.name = 'SessionSendError';
    this.code = code;
  }
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000, healthyAfterMs: 10_000, attemptsAfterRevocation: 5 };
const DEFAULT_TIMING: SessionTiming = {
  pingEveryMs: 20_000,
  silentLimitMs: 45_000,
  ackEveryMs: 1_000,
  connectTimeoutMs: 10_000,
  closeTimeoutMs: 5_000,
};
const HISTORY_ATTEMPTS = 5;
/**
 * Outgoing frames go at this share of the room's rate: the room counts refill by its own clock, which
 * (in workerd) moves on only with I/O and may lag the client's, so a client at the full rate is refused now and then.
 */
const PACING_MARGIN = 0.9;
const MAX_HISTORY_PAGE = 1000;
/** Byte for byte what the room answers without waking (its auto-response). */
const PING_FRAME = '{"type":"ping"}';
/** The client's own code for replacing a socket that went silent or never said welcome (IANA: Timeout). */
const TIMEOUT_CLOSE_CODE = 3008;

function closeCodeNamed(name: (typeof CLOSE_CODE_TABLE)[number]['name']): number {
  const row = CLOSE_CODE_TABLE.find((candidate) => candidate.name === name);
  if (row === undefined) throw new Error(`no close code named ${name}`);
  return row.code;
}

/** Close codes after which reconnecting cannot help (`reconnect: no` in the protocol's table). */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set(CLOSE_CODE_TABLE.filter((row) => row.reconnect === 'no').map((row) => row.code));
const TOKEN_REVOKED_CODE = closeCodeNamed('token_revoked');
/** Refused upgrades that are final, as the close code that says the same on an open socket. */
const FINAL_REFUSALS: Readonly<Record<string, number>> = {
  session_ended: closeCodeNamed('session_ended'),
  participant_not_allowed: closeCodeNamed('participant_removed'),
};

type Timer = ReturnType<typeof setTimeout>;

/** clearTimeout for a timer that may not be set (the Workers runtime's refuses `undefined`). */
function cancel(timer: Timer | undefined): void {
  if (timer !== undefined) clearTimeout(timer);
}

/** One socket's life: from the token request to its close. */
interface Connection {
  socket: TransportSocket | undefined;
  /** Where it asked to resume (the URL's `last_seq` and `epoch`). */
  resumeFrom: number | undefined;
  resumeEpoch: string | undefined;
  welcomedAt: number | undefined;
  lastHeardAt: number;
  ended: boolean;
  timers: Set<Timer>;
  pinger: ReturnType<typeof setInterval> | undefined;
  ackTimer: Timer | undefined;
  /** The seq the server last heard acknowledged on this socket (it counts the resume position as one). */
  ackedSeq: number;
  bucket: TokenBucket | undefined;
  maxFrameBytes: number;
  /** Messages sent on this socket and not answered yet, oldest first. */
  unanswered: Outgoing[];
}

interface Outgoing {
  id: string;
  /** Its place among the client's messages: resends keep the order. */
  order: number;
  frame: string;
  resolve: (published: Published) => void;
  reject: (error: Error) => void;
}

/** What the server sent that must be handled in order (welcome, gap, broadcasts), queued behind any history read. */
type Incoming =
  | { kind: 'welcome'; welcome: WelcomeFrame; resumeFrom: number | undefined; resumeEpoch: string | undefined }
  | { kind: 'gap'; range: SeqRange }
  | { kind: 'broadcast'; message: SessionMessage };

/**
 * A session socket that stays connected: it reconnects with backoff (a fresh token each time),
 * resumes after the last processed seq, fills gaps from history, and delivers every message once
 * and in order; messages sent are kept until published, paced to the session's frame rate, and
 * resent after a reconnect without being published twice.
 *
 * @example
 * const session = connectSession({
 *   baseUrl, sessionId, apiKey,
 *   getToken: async () => (await api.POST('/v1/sessions/{id}/tokens', { params: { path: { id: sessionId } }, body: { participant: 'client:me' } })).data!.token,
 *   onMessage: (message) => console.log(message.seq, message.payload),
 * })
 * const { seq } = await session.send({ text: 'hello' })
 */
export function connectSession(options: ConnectSessionOptions): SessionConnection {
  const backoff: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.backoff };
  const timing: SessionTiming = { ...DEFAULT_TIMING, ...options.timing };
  const transport = options.transport ?? webSocketTransport();
  const api =
    options.api ??
    createSwitchyardClient({
      baseUrl: String(options.baseUrl),
      // History reads have their own retry loop (readHistory), paced by the session's backoff.
      retry: false,
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  const historyPageSize = Math.min(Math.max(1, options.historyPageSize ?? MAX_HISTORY_PAGE), MAX_HISTORY_PAGE);
  const report = options.onError ?? ((error: unknown) => console.error('switchyard session:', error));

  let state: SessionState = 'connecting';
  let epoch = options.epoch;
  let lastSeq = options.lastSeq;
  /** Set by close(): the code the client closes with. From then on nothing is delivered. */
  let closing: SessionCloseEvent | undefined;
  let finished = false;
  let resolveClosed: (event: SessionCloseEvent) => void = () => {};
  const closed = new Promise<SessionCloseEvent>((resolve) => {
    resolveClosed = resolve;
  });

  let current: Connection | undefined;
  let reconnectTimer: Timer | undefined;
  /** Connections in a row that failed or did not stay healthy: the backoff's exponent. */
  let failures = 0;
  /** After a 4004: refused attempts left before giving up. */
  let revokedAttemptsLeft: number | undefined;

  const idPrefix = randomIdPrefix();
  let sentCount = 0;
  /** Every message not yet published, in the order sent. */
  const unpublished = new Map<string, Outgoing>();
  /** Messages waiting to go out on the current socket, in order. */
  let toSend: Outgoing[] = [];
  let outboxTimer: Timer | undefined;

  const inbox: Incoming[] = [];
  let draining = false;

  function setState(next: SessionState): void {
    if (state === next) return;
    state = next;
    try {
      options.onStateChange?.(next);
    } catch (error) {
      report(error);
    }
  }

  // --- Connections -----------------------------------------------------------------------------

  async function connect(): Promise<void> {
    reconnectTimer = undefined;
    if (finished || closing) return;
    const connection: Connection = {
      socket: undefined,
      resumeFrom: undefined,
      resumeEpoch: undefined,
      welcomedAt: undefined,
      lastHeardAt: Date.now(),
      ended: false,
      timers: new Set(),
      pinger: undefined,
      ackTimer: undefined,
      ackedSeq: 0,
      bucket: undefined,
      maxFrameBytes: Number.POSITIVE_INFINITY,
      unanswered: [],
    };
    current = connection;
    let token: string;
    try {
      token = await options.getToken();
    } catch (error) {
      report(error);
      connectionEnded(connection, { code: 1006, reason: 'getToken failed' });
      return;
    }
    if (connection.ended) return;
    // Read now, not when the attempt was scheduled: messages processed meanwhile need no replay.
    connection.resumeFrom = lastSeq;
    connection.resumeEpoch = epoch;
    const url = sessionSocketUrl({
      baseUrl: options.baseUrl,
      sessionId: options.sessionId,
      ...(lastSeq === undefined ? {} : { lastSeq }),
      ...(epoch === undefined ? {} : { epoch }),
    });
    after(connection, timing.connectTimeoutMs, () => {
      if (connection.welcomedAt === undefined) abandon(connection, 'no welcome in time');
    });
    try {
      connection.socket = transport(url, sessionSocketProtocols(token), {
        open: () => {
          connection.lastHeardAt = Date.now();
        },
        message: (data) => {
          if (!connection.ended) receive(connection, data);
        },
        close: (event) => connectionEnded(connection, event),
      });
    } catch (error) {
      report(error);
      connectionEnded(connection, { code: 1006, reason: 'the transport failed' });
    }
  }

  function after(connection: Connection, ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      connection.timers.delete(timer);
      run();
    }, ms);
    connection.timers.add(timer);
  }

  /** Gives up on a socket that went silent: closed without waiting for an answer that may never come. */
  function abandon(connection: Connection, reason: string): void {
    try {
      connection.socket?.close(TIMEOUT_CLOSE_CODE, reason);
    } catch {
      // Already closed.
    }
    connectionEnded(connection, { code: TIMEOUT_CLOSE_CODE, reason });
  }

  function stopTimers(connection: Connection): void {
    for (const timer of connection.timers) clearTimeout(timer);
    connection.timers.clear();
    if (connection.pinger !== undefined) clearInterval(connection.pinger);
    cancel(connection.ackTimer);
    connection.ackTimer = undefined;
  }

  function connectionEnded(connection: Connection, event: TransportCloseEvent): void {
    if (connection.ended) return;
    connection.ended = true;
    stopTimers(connection);
    if (current === connection) current = undefined;
    cancel(outboxTimer);
    if (closing) {
      // The server echoes the client's code: that is the close the app asked for.
      finish(connection.welcomedAt === undefined ? closing : { code: event.code, reason: event.reason });
      return;
    }
    const welcomed = connection.welcomedAt !== undefined;
    const finalCode = FINAL_CLOSE_CODES.has(event.code) ? event.code : FINAL_REFUSALS[event.problem ?? ''];
    if (finalCode !== undefined) {
      finish({ code: finalCode, reason: event.reason });
      return;
    }
    if (event.code === TOKEN_REVOKED_CODE) {
      // Only a token minted by another key can get back in; getToken is asked again, a bounded number of times.
      revokedAttemptsLeft = backoff.attemptsAfterRevocation;
    } else if (!welcomed && revokedAttemptsLeft !== undefined && (event.status === undefined || event.status === 401)) {
      revokedAttemptsLeft -= 1;
      if (revokedAttemptsLeft <= 0) {
        finish({ code: TOKEN_REVOKED_CODE, reason: 'token revoked; no token from another key was accepted' });
        return;
      }
    }
    if (connection.welcomedAt !== undefined && Date.now() - connection.welcomedAt >= backoff.healthyAfterMs) failures = 0;
    const delay = Math.random() * Math.min(backoff.maxMs, backoff.baseMs * 2 ** failures);
    failures += 1;
    // Before the first welcome it is still 'connecting'.
    if (state === 'open') setState('reconnecting');
    reconnectTimer = setTimeout(() => void connect(), delay);
  }

  function finish(event: SessionCloseEvent): void {
    if (finished) return;
    finished = true;
    cancel(reconnectTimer);
    cancel(outboxTimer);
    if (current !== undefined) {
      const connection = current;
      current = undefined;
      connection.ended = true;
      stopTimers(connection);
    }
    const error = new SessionClosedError(event);
    for (const outgoing of unpublished.values()) outgoing.reject(error);
    unpublished.clear();
    toSend = [];
    setState('closed');
    resolveClosed(event);
  }

  function receive(connection: Connection, data: string): void {
    connection.lastHeardAt = Date.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      report(new Error(`the server sent a frame that is not JSON: ${data.slice(0, 100)}`));
      return;
    }
    try {
      options.onFrame?.(frame);
    } catch (error) {
      report(error);
    }
    switch (frame.type) {
      case 'welcome':
        welcomed(connection, frame);
        break;
      case 'gap':
        enqueue({ kind: 'gap', range: { from: frame.from_seq, to: frame.to_seq } });
        break;
      case 'message':
      case 'presence':
        enqueue({ kind: 'broadcast', message: frame });
        break;
      case 'published':
        published(connection, frame);
        break;
      case 'error':
        refused(connection, frame);
        break;
      default:
        // `resumed` needs nothing (repeats are dropped by seq); `pong` only proves the socket alive.
        break;
    }
  }

  function welcomed(connection: Connection, welcome: WelcomeFrame): void {
    connection.welcomedAt = Date.now();
    connection.maxFrameBytes = welcome.limits.max_frame_bytes;
    connection.bucket = tokenBucket(
      options.frameRate ?? { perSecond: welcome.limits.frames_per_second * PACING_MARGIN, burst: welcome.limits.frame_burst },
    );
    connection.ackedSeq = connection.resumeFrom ?? 0;
    revokedAttemptsLeft = undefined;
    connection.pinger = setInterval(() => {
      if (Date.now() - connection.lastHeardAt > timing.silentLimitMs) {
        abandon(connection, `nothing heard for ${timing.silentLimitMs} ms`);
        return;
      }
      try {
        connection.socket?.send(PING_FRAME);
      } catch {
        // Closing; its close event follows.
      }
    }, timing.pingEveryMs);
    setState('open');
    enqueue({ kind: 'welcome', welcome, resumeFrom: connection.resumeFrom, resumeEpoch: connection.resumeEpoch });
    // Everything not yet published goes out again: what the last socket sent may or may not have
    // arrived, and the room answers a repeated id with `published` (duplicate) instead of a broadcast.
    toSend = [...unpublished.values()];
    pumpOutbox();
  }

  // --- Outgoing --------------------------------------------------------------------------------

  function send(payload: unknown): Promise<Published> {
    if (finished || closing) return Promise.reject(new SessionClosedError(closing ?? { code: 1000, reason: 'closed' }));
    if (payload === undefined) return Promise.reject(new TypeError('a message payload is JSON: undefined cannot be sent'));
    sentCount += 1;
    const id = `${idPrefix}-${sentCount}`;
    let frame: string;
    try {
      frame = JSON.stringify({ type: 'message', id, payload } satisfies ClientFrame);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<Published>((resolve, reject) => {
      const outgoing: Outgoing = { id, order: sentCount, frame, resolve, reject };
      unpublished.set(id, outgoing);
      toSend.push(outgoing);
      pumpOutbox();
    });
  }

  /** Sends what waits, as fast as the frame budget allows; comes back when a frame is due. */
  function pumpOutbox(): void {
    const connection = current;
    cancel(outboxTimer);
    outboxTimer = undefined;
    // Sent once a socket is welcomed (it tells the limits).
    if (connection?.bucket === undefined || connection.ended) return;
    while (toSend.length > 0) {
      const next = toSend[0];
      if (next === undefined) break;
      if (byteLength(next.frame) > connection.maxFrameBytes) {
        // The room would close the socket (1009), and the resend after the reconnect would again.
        toSend.shift();
        unpublished.delete(next.id);
        next.reject(new SessionSendError('frame_too_big', `the message is larger than the session's ${connection.maxFrameBytes} bytes`));
        continue;
      }
      const waitMs = connection.bucket.take(Date.now());
      if (waitMs > 0) {
        outboxTimer = setTimeout(pumpOutbox, waitMs);
        return;
      }
      toSend.shift();
      try {
        connection.socket?.send(next.frame);
      } catch {
        // The socket is closing: the message stays unpublished and goes out on the next one.
        return;
      }
      connection.unanswered.push(next);
    }
  }

  function published(connection: Connection, frame: PublishedFrame): void {
    const outgoing = unpublished.get(frame.id);
    if (outgoing === undefined) return;
    unpublished.delete(frame.id);
    removeUnanswered(connection, outgoing);
    outgoing.resolve({ seq: frame.seq, duplicate: frame.duplicate });
  }

  function refused(connection: Connection, frame: ErrorFrame): void {
    if (frame.code === 'rate_limited') {
      // The server's bucket is empty until retry_after_ms: nothing goes out before, and the refused
      // message goes back in its place in the queue.
      connection.bucket?.honour(frame.retry_after_ms ?? 1000, Date.now());
      const outgoing = frame.id === undefined ? undefined : unpublished.get(frame.id);
      if (outgoing !== undefined) {
        removeUnanswered(connection, outgoing);
        insertInOrder(toSend, outgoing);
      } else if (frame.id === undefined) {
        // A refused ack (our only frames without an id): acknowledge again.
        connection.ackedSeq = connection.resumeFrom ?? 0;
        scheduleAck(connection);
      }
      pumpOutbox();
      return;
    }
    // invalid_frame names no id, but the room answers a socket's frames in order and the client's acks
    // and pings are valid: it is the oldest message still unanswered on this socket.
    const outgoing = connection.unanswered.shift();
    if (outgoing === undefined) {
      report(new Error(`the server refused a frame: ${frame.detail}`));
      return;
    }
    unpublished.delete(outgoing.id);
    outgoing.reject(new SessionSendError('invalid_frame', frame.detail));
  }

  function removeUnanswered(connection: Connection, outgoing: Outgoing): void {
    const index = connection.unanswered.indexOf(outgoing);
    if (index >= 0) connection.unanswered.splice(index, 1);
  }

  function scheduleAck(connection: Connection): void {
    if (connection.ended || connection.welcomedAt === undefined || connection.ackTimer !== undefined) return;
    connection.ackTimer = setTimeout(() => {
      connection.ackTimer = undefined;
      if (connection.ended || lastSeq === undefined || lastSeq <= connection.ackedSeq || connection.bucket === undefined) return;
      const waitMs = connection.bucket.take(Date.now());
      if (waitMs > 0) {
        connection.ackTimer = setTimeout(() => {
          connection.ackTimer = undefined;
          scheduleAck(connection);
        }, waitMs);
        return;
      }
      try {
        connection.socket?.send(JSON.stringify({ type: 'ack', seq: lastSeq } satisfies ClientFrame));
        connection.ackedSeq = lastSeq;
      } catch {
        // Closing.
      }
    }, timing.ackEveryMs);
  }

  // --- Incoming, in order ----------------------------------------------------------------------

  function enqueue(item: Incoming): void {
    inbox.push(item);
    void drain();
  }

  /** Handles the inbox one item at a time: while a gap is read from history, what arrives waits behind it. */
  async function drain(): Promise<void> {
    if (draining) return;
    draining = true;
    try {
      while (!closing) {
        const item = inbox.shift();
        if (item === undefined) break;
        try {
          if (item.kind === 'broadcast') await deliverInOrder(item.message);
          else if (item.kind === 'gap') await fill(item.range.from, item.range.to);
          else await adopt(item);
        } catch (error) {
          report(error);
        }
      }
    } finally {
      draining = false;
    }
  }

  /** Where the stream stands after a welcome: resumed (its replay follows), behind, or restarted. */
  async function adopt({ welcome, resumeFrom, resumeEpoch }: Extract<Incoming, { kind: 'welcome' }>): Promise<void> {
    // The room's own rule for resuming.
    const serverResumes =
      resumeFrom !== undefined && (resumeEpoch === undefined || resumeEpoch === welcome.epoch) && resumeFrom <= welcome.seq;
    if (serverResumes) {
      epoch = welcome.epoch;
      return;
    }
    if (lastSeq !== undefined && epoch === welcome.epoch && lastSeq <= welcome.seq) {
      // The same stream, but the socket asked from an older position (the inbox was still busy with
      // a welcome that restarted it): nothing is replayed, so read what is missing from history.
      await fill(lastSeq + 1, welcome.seq);
      return;
    }
    const previousEpoch = epoch;
    const previousSeq = lastSeq;
    epoch = welcome.epoch;
    lastSeq = welcome.seq;
    if (previousEpoch === undefined && previousSeq === undefined) return;
    try {
      options.onReset?.({ epoch: welcome.epoch, seq: welcome.seq, previousEpoch, previousSeq });
    } catch (error) {
      report(error);
    }
  }

  async function deliverInOrder(message: SessionMessage): Promise<void> {
    if (lastSeq !== undefined && message.seq <= lastSeq) return; // replayed, or read from history already
    // A hole that no gap announced (frames lost on a socket): history has them too.
    if (lastSeq !== undefined && message.seq > lastSeq + 1) await fill(lastSeq + 1, message.seq - 1);
    if (closing) return;
    await handOver(message);
  }

  async function handOver(message: SessionMessage): Promise<void> {
    try {
      await options.onMessage(message);
    } catch (error) {
      report(error);
    }
    lastSeq = message.seq;
    if (current !== undefined) scheduleAck(current);
  }

  function lose(range: SeqRange): void {
    lastSeq = range.to;
    options.onGap?.(range, false);
  }

  /** Delivers `from`…`to` from history, page by page; what history no longer holds is reported lost. */
  async function fill(from: number, to: number): Promise<void> {
    let upTo = Math.max(from, (lastSeq ?? 0) + 1) - 1;
    if (upTo >= to) return;
    const streamEpoch = epoch;
    let filled: SeqRange | undefined;
    while (upTo < to && !closing) {
      const page = await readHistory(upTo, Math.min(historyPageSize, to - upTo));
      // Unreadable, or the stream restarted meanwhile: the rest is lost.
      if (page === undefined || page.epoch !== streamEpoch) break;
      const before = upTo;
      for (const message of page.data) {
        if (closing || message.seq > to) break;
        if (message.seq <= upTo) continue;
        // History starts at earliest_seq: whatever retention dropped before it is gone for good.
        if (message.seq > upTo + 1) lose({ from: upTo + 1, to: message.seq - 1 });
        await handOver(message);
        filled = { from: filled?.from ?? message.seq, to: message.seq };
        upTo = message.seq;
      }
      if (page.next_after_seq === null || upTo === before) break;
    }
    if (closing) return;
    if (upTo < to) lose({ from: upTo + 1, to });
    if (filled !== undefined) options.onGap?.(filled, true);
  }

  async function readHistory(afterSeq: number, limit: number): Promise<SessionHistory | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      if (closing) return undefined;
      let problem: unknown;
      let retryAfterMs: number | undefined;
      let retryable = true;
      try {
        const { data, error, response } = await api.GET('/v1/sessions/{id}/messages', {
          params: { path: { id: options.sessionId }, query: { after_seq: afterSeq, limit } },
        });
        if (data !== undefined) return data;
        problem = error;
        retryable = response.status === 408 || response.status === 429 || response.status >= 500;
        const retryAfter = Number(response.headers.get('Retry-After'));
        if (retryAfter > 0) retryAfterMs = retryAfter * 1000;
      } catch (error) {
        problem = error;
      }
      if (!retryable || attempt >= HISTORY_ATTEMPTS) {
        report(new Error(`could not read the session history after seq ${afterSeq}: ${JSON.stringify(problem) ?? String(problem)}`));
        return undefined;
      }
      const waitMs = retryAfterMs ?? Math.random() * Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  // --- The app's side --------------------------------------------------------------------------

  function close(code = 1000, reason = 'client closed'): Promise<SessionCloseEvent> {
    // What a browser's WebSocket accepts from a client.
    if (code !== 1000 && (code < 3000 || code > 4999)) throw new RangeError(`a client closes with 1000 or 3000–4999, not ${code}`);
    if (finished || closing) return closed;
    closing = { code, reason };
    cancel(reconnectTimer);
    const connection = current;
    if (connection?.socket !== undefined && connection.welcomedAt !== undefined && !connection.ended) {
      const asked = closing;
      after(connection, timing.closeTimeoutMs, () => connectionEnded(connection, asked));
      try {
        connection.socket.close(code, reason);
      } catch {
        connectionEnded(connection, asked);
      }
    } else {
      try {
        connection?.socket?.close(code, reason);
      } catch {
        // Not open yet.
      }
      finish(closing);
    }
    return closed;
  }

  void connect();

  return {
    get state() {
      return state;
    },
    get lastSeq() {
      return lastSeq;
    },
    get epoch() {
      return epoch;
    },
    send,
    close,
    closed,
  };
}

interface TokenBucket {
  /** Takes a frame's token: 0 when taken, otherwise how long until there is one. */
  take(now: number): number;
  /** The server refused a frame: none is due before `retryAfterMs` from now. */
  honour(retryAfterMs: number, now: number): void;
}

/** The room's per-socket budget, mirrored: a frame the room would refuse is held back instead. */
function tokenBucket(rate: { perSecond: number; burst: number }): TokenBucket {
  let tokens = rate.burst;
  let refilledAt = Date.now();
  const refill = (now: number) => {
    if (now <= refilledAt) return;
    tokens = Math.min(rate.burst, tokens + ((now - refilledAt) * rate.perSecond) / 1000);
    refilledAt = now;
  };
  return {
    take(now) {
      refill(now);
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - tokens) * 1000) / rate.perSecond);
    },
    honour(retryAfterMs, now) {
      refill(now);
      // As many tokens as make one exactly retryAfterMs from now (below zero for a long wait).
      tokens = Math.min(tokens, 1 - (retryAfterMs * rate.perSecond) / 1000);
    },
  };
}

function insertInOrder(queue: Outgoing[], outgoing: Outgoing): void {
  const index = queue.findIndex((queued) => queued.order > outgoing.order);
  if (index < 0) queue.push(outgoing);
  else queue.splice(index, 0, outgoing);
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/** A prefix no other client of the participant will use: message ids are the publisher's, per participant. */
function randomIdPrefix(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(9)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * The platform's WebSocket as a session transport: browsers, Node 22+, Workers (`new WebSocket`).
 */
export function webSocketTransport(Implementation: typeof WebSocket = globalThis.WebSocket): SessionTransport {
  return (url, protocols, handlers) => {
    const socket = new Implementation(url.href, protocols);
    let ended = false;
    const end = (event: TransportCloseEvent) => {
      if (ended) return;
      ended = true;
      handlers.close(event);
    };
    socket.addEventListener('open', () => handlers.open());
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string' && !ended) handlers.message(event.data);
    });
    socket.addEventListener('close', (event) => end({ code: event.code, reason: event.reason }));
    // Node 22's WebSocket reports a refused upgrade with 'error' and no 'close'; elsewhere 'close'
    // follows an 'error' and is ignored.
    socket.addEventListener('error', () => {
      end({ code: 1006, reason: 'the socket failed (or its upgrade was refused)' });
      try {
        socket.close();
      } catch {
        // Never opened.
      }
    });
    return {
      send: (data) => socket.send(data),
      close: (code, reason) => socket.close(code, reason),
    };
  };
}

/** A socket the Workers runtime hands over on a 101 (`response.webSocket`), before `accept()`. */
interface UpgradedSocket {
  accept(): void;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: () => void): void;
}

/**
 * The Workers runtime's client socket: `fetch(url, { headers: { Upgrade: 'websocket' } })` and
 * `response.webSocket.accept()`. Unlike the platform WebSocket it sees a refused upgrade's status
 * and problem code, so `session_ended` at connect is final and 401s after a 4004 are counted exactly.
 */
export function fetchUpgradeTransport(
  fetchUpgrade: (url: string, init: { headers: Record<string, string> }) => Promise<Response> = (url, init) => fetch(url, init),
): SessionTransport {
  return (url, protocols, handlers) => {
    let socket: UpgradedSocket | undefined;
    let closedEarly: { code: number | undefined; reason: string | undefined } | undefined;
    let ended = false;
    const end = (event: TransportCloseEvent) => {
      if (ended) return;
      ended = true;
      handlers.close(event);
    };
    const httpUrl = new URL(url);
    httpUrl.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    const headers = { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': protocols.join(', ') };
    fetchUpgrade(httpUrl.href, { headers }).then(
      async (response) => {
        // Only the Workers runtime's Response has `webSocket`; the DOM's and Node's types do not declare it.
        const upgraded = (response as unknown as { webSocket?: UpgradedSocket | null }).webSocket;
        if (response.status !== 101 || !upgraded) {
          const problem = await problemCodeOf(response);
          end({ code: 1006, reason: `upgrade refused: ${response.status}`, status: response.status, ...(problem ? { problem } : {}) });
          return;
        }
        upgraded.accept();
        if (closedEarly !== undefined) {
          upgraded.close(closedEarly.code, closedEarly.reason);
          end({ code: closedEarly.code ?? 1000, reason: closedEarly.reason ?? '' });
          return;
        }
        socket = upgraded;
        upgraded.addEventListener('message', (event) => {
          if (typeof event.data === 'string' && !ended) handlers.message(event.data);
        });
        upgraded.addEventListener('close', (event) => end({ code: event.code, reason: event.reason }));
        upgraded.addEventListener('error', () => end({ code: 1006, reason: 'the socket failed' }));
        handlers.open();
      },
      (error: unknown) => end({ code: 1006, reason: `upgrade failed: ${String(error)}` }),
    );
    return {
      send(data) {
        if (socket === undefined) throw new Error('the socket is not open');
        socket.send(data);
      },
      close(code, reason) {
        if (socket !== undefined) socket.close(code, reason);
        else closedEarly = { code, reason };
      },
    };
  };
}

async function problemCodeOf(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { code?: unknown };
    return typeof body.code === 'string' ? body.code : undefined;
  } catch {
    return undefined;
  }
}
