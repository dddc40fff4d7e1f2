/**
 * @module
 * Limits on what a request may contain. Globally: NUL characters or broken percent-encoding in the
 * URL (→ 400). On every route with a body (defineRoute adds it): body size (hono/body-limit → 413),
 * an absent body, malformed JSON, JSON nested too deeply, NUL characters in strings (→ 400). The JSON body is
 * parsed once here and handed to the route validator through Hono's body cache.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../context.ts';
import { ApiError } from '../errors.ts';
import { findJsonViolation } from '../lib/json-inspect.ts';

export const MAX_JSON_DEPTH = 10;

const JSON_CONTENT_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

const sizeLimiters = new Map<number, MiddlewareHandler>();

function sizeLimiter(maxSize: number): MiddlewareHandler {
  let limiter = sizeLimiters.get(maxSize);
  if (!limiter) {
    limiter = bodyLimit({
      maxSize,
      onError: () => {
        throw new ApiError('payload_too_large', { detail: `The request body must not exceed ${maxSize} bytes.` });
      },
    });
    sizeLimiters.set(maxSize, limiter);
  }
  return limiter;
}

/**
 * @example
 * ```ts
 * app.use(urlLimits())
 * ```
 */
export function urlLimits(): MiddlewareHandler<AppEnv> {
  return async function urlLimits(c, next) {
    rejectNulInUrl(c.req.url);
    await next();
  };
}

function rejectNulInUrl(url: string): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    throw new ApiError('malformed_request', { detail: 'The request URL contains an invalid percent-encoding.' });
  }
  if (decoded.includes('\u0000')) {
    throw new ApiError('invalid_characters', { detail: 'The request URL contains a NUL character.' });
  }
}

async function inspectJsonBody(text: string): Promise<unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ApiError('malformed_json', { detail: `The request body is not valid JSON: ${(error as Error).message}` });
  }
  const violation = findJsonViolation(parsed, MAX_JSON_DEPTH);
  if (violation?.kind === 'too_deep') {
    throw new ApiError('json_too_deep', {
      detail: `The request body must not nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep.`,
      errors: [{ location: 'body', pointer: violation.pointer, detail: `Nested deeper than ${MAX_JSON_DEPTH} levels`, code: 'too_deep' }],
    });
  }
  if (violation?.kind === 'nul') {
    throw new ApiError('invalid_characters', {
      detail: 'Strings in the request body must not contain NUL characters.',
      errors: [{ location: 'body', pointer: violation.pointer, detail: 'Contains a NUL character', code: 'invalid_characters' }],
    });
  }
  return parsed;
}

/**
 * Route middleware: runs after routing, so a wrong method is a 405 whatever its body, and only
 * routes that take a body pay for reading one. Needs c.var.config (requireValidConfig).
 *
 * @example
 * ```ts
 * createRoute({ ..., middleware: [jsonBodyLimits()] })  // defineRoute does this for every route with a body
 * ```
 */
export function jsonBodyLimits(): MiddlewareHandler<AppEnv> {
  return async function jsonBodyLimits(c, next) {
    const limiter = sizeLimiter(c.get('config').maxBodyBytes);
    return limiter(c, async () => {
      if (METHODS_WITH_BODY.has(c.req.method)) {
        const contentType = c.req.header('Content-Type');
        // A body without Content-Type is read to tell an absent body (400) from an untyped one
        // (415); a body of another type is left to the route's media-type gate (415).
        if (contentType === undefined || JSON_CONTENT_TYPE.test(contentType)) {
          const text = await c.req.text();
          // Every body the API declares is required; an absent one would otherwise validate as {}.
          if (text === '') throw new ApiError('malformed_request', { detail: 'This operation needs a JSON request body.' });
          if (contentType === undefined) throw new ApiError('unsupported_media_type', { detail: 'Send the body as application/json.' });
          c.req.bodyCache.json = Promise.resolve(await inspectJsonBody(text));
        }
      }
      await next();
    });
  };
}
