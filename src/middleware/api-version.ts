/**
 * @module
 * Dated API versions (Stripe's model). Which version a request is rendered in: the one its
 * `Switchyard-Version` header names, else its organisation's default (`api_version`, read with
 * the API key), else, on a route without an API key, the newest. Every response, errors included,
 * names it in `Switchyard-Version`. Handlers only know the newest shape: on an operation some
 * change module transforms, {@link versionedBodies} brings an older client's request body up to it
 * and takes the answer back down (versions/render.ts).
 *
 * An idempotent replay is rendered like a fresh answer: the saved body is the handler's, in the
 * newest shape (it is saved inside this middleware), so a retry from a client on another version
 * gets the answer in its own version.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { JsonObject } from '../versions/change.ts';
import { differsIn, requestFrom, responseIn } from '../versions/render.ts';
import { API_VERSION_HEADER, API_VERSION_PATTERN, API_VERSIONS, isApiVersion, NEWEST_API_VERSION } from '../versions/versions.ts';

function refuse(value: string): ApiError {
  const known = API_VERSIONS.map((version) => `\`${version}\``).join(', ');
  const what = API_VERSION_PATTERN.test(value) ? 'is not a version of this API' : 'is not a `YYYY-MM-DD` date';
  return new ApiError('invalid_api_version', {
    detail: `${API_VERSION_HEADER} ${JSON.stringify(value.slice(0, 64))} ${what}; the versions are ${known} (newest last).`,
  });
}

/**
 * Reads and checks `Switchyard-Version` before anything else runs, and names the version on the
 * way out. A response that caches or has an ETag varies by it.
 *
 * @example
 * ```ts
 * app.use(apiVersion())  // → every response: Switchyard-Version: 2026-12-08
 * ```
 */
export function apiVersion(): MiddlewareHandler<AppEnv> {
  return async function apiVersion(c, next) {
    c.set('apiVersion', NEWEST_API_VERSION);
    c.set('apiVersionRequested', false);
    // Set now as well: a refusal thrown below never reaches the line after next().
    c.header(API_VERSION_HEADER, NEWEST_API_VERSION);
    const requested = c.req.header(API_VERSION_HEADER);
    if (requested !== undefined) {
      if (!isApiVersion(requested)) throw refuse(requested);
      c.set('apiVersion', requested);
      c.set('apiVersionRequested', true);
    }
    await next();
    const headers = c.res.headers;
    headers.set(API_VERSION_HEADER, c.get('apiVersion'));
    if (headers.has('ETag') || headers.has('Cache-Control')) headers.append('Vary', API_VERSION_HEADER);
  };
}

/** After authentication: a request that named no version gets its organisation's default. */
export function organizationApiVersion(): MiddlewareHandler<AppEnv> {
  return async function organizationApiVersion(c, next) {
    if (!c.get('apiVersionRequested')) c.set('apiVersion', c.get('auth').apiVersion);
    await next();
  };
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * On an operation some version change transforms: a request body sent in an older version is
 * brought up to the newest before validation, and a 2xx JSON answer is taken down to the request's
 * version. Runs after the body limits, so they see the bytes the client sent.
 */
export function versionedBodies(operationId: string): MiddlewareHandler<AppEnv> {
  return async function versionedBodies(c, next) {
    const version = c.get('apiVersion');
    if (!differsIn(version, operationId)) return next();
    // The body limits have parsed it already (request-limits.ts); the validator and the idempotency
    // fingerprint read it from Hono's cache, so the newest shape goes there.
    if (c.req.header('Content-Type')?.startsWith('application/json')) {
      const body: unknown = await c.req.json().catch(() => undefined);
      if (isJsonObject(body)) {
        const upgraded = requestFrom(version, operationId, body);
        // Hono stores promises in bodyCache, though its type declares the resolved values.
        c.req.bodyCache.text = Promise.resolve(JSON.stringify(upgraded)) as unknown as string;
        c.req.bodyCache.json = Promise.resolve(upgraded);
      }
    }
    await next();
    const response = c.res;
    if (response.status < 200 || response.status > 299 || !response.headers.get('Content-Type')?.startsWith('application/json')) return;
    const body: unknown = await response.clone().json();
    if (!isJsonObject(body)) return;
    const headers = new Headers(response.headers);
    headers.delete('Content-Length');
    // Unset first: assigning over a response merges the old one's headers into the new.
    c.res = undefined;
    c.res = new Response(JSON.stringify(responseIn(version, operationId, body)), { status: response.status, headers });
  };
}
