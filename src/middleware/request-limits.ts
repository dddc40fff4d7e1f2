/**
 * @module
 * Limits on what a request may contain. Globally: NUL characters or broken percent-encoding in the
 * URL, a User-Agent with control characters or over 512 bytes (→ 400). On every route with a body (defineRoute adds it): body size (hono/body-limit → 413),
 * an absent body, bytes that are not UTF-8 or start with a byte order mark, and whatever
 * parseStrictJson refuses: malformed JSON, nesting deeper than MAX_JSON_DEPTH, NUL characters,
 * unpaired surrogates, the reserved key `__proto__`, a key repeated in one object (→ 400). The body
 * is decoded once here, and its exact text (with the parsed value) goes to Hono's body cache: the
 * idempotency fingerprint hashes that text, and the route validator's c.req.json() parses it again
 * (Hono 4.13 reads `bodyCache.text`, not `bodyCache.json`), so both see what was inspected.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../context.ts';
import { ApiError } from '../errors.ts';
import { type JsonViolationKind, MAX_JSON_DEPTH, parseStrictJson } from '../lib/json-inspect.ts';
import { MAX_USER_AGENT_BYTES, userAgentState } from '../lib/user-agent.ts';
import type { ErrorCode } from '../schemas/problem.ts';

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
    const userAgent = c.req.header('User-Agent');
    if (userAgentState(userAgent) === 'malformed') {
      throw new ApiError('invalid_user_agent', {
        detail: `The User-Agent header must be at most ${MAX_USER_AGENT_BYTES} bytes, without control characters.`,
        security: { reason: (userAgent?.length ?? 0) > MAX_USER_AGENT_BYTES ? 'too_long' : 'control_character' },
      });
    }
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

/** Fatal: a byte sequence that is not UTF-8 throws instead of becoming U+FFFD. Keeps a BOM, to refuse it. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BYTE_ORDER_MARK = 0xfeff;

function encodingError(detail: string, fieldDetail: string): ApiError {
  return new ApiError('invalid_encoding', {
    detail,
    errors: [{ location: 'body', pointer: '', detail: fieldDetail, code: 'invalid_encoding' }],
  });
}

/**
 * The body as text, exactly: refused when it is not UTF-8 (RFC 8259 §8.1), and when it starts with a
 * byte order mark, which RFC 8259 forbids senders to add and JSON.parse does not accept, so a proxy
 * or WAF reading the raw bytes could fail to parse a body the API would read.
 */
function decodeBody(bytes: Uint8Array): string {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    const offset = firstInvalidUtf8Byte(bytes);
    throw encodingError(`The request body must be UTF-8; byte ${offset} is not.`, `Not valid UTF-8 at byte ${offset}`);
  }
  if (text.charCodeAt(0) === BYTE_ORDER_MARK) {
    throw encodingError('Send the request body as UTF-8 without a byte order mark.', 'Starts with a byte order mark (EF BB BF)');
  }
  return text;
}

/**
 * Where the first ill-formed sequence starts (Unicode Table 3-7: no overlongs, no surrogates,
 * nothing past U+10FFFF). Only run once the fatal decoder has failed, to tell the client where.
 */
function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index] as number;
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead < 0x80) length = 1;
    else if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return index;
    for (let next = 1; next < length; next += 1) {
      const byte = bytes[index + next];
      if (byte === undefined || byte < (next === 1 ? low : 0x80) || byte > (next === 1 ? high : 0xbf)) return index;
    }
    index += length;
  }
  return bytes.length;
}

/** Each refusal's problem code, its detail, and the field-level code of its `errors[]` entry. */
const REFUSALS: Record<Exclude<JsonViolationKind, 'malformed'>, { code: ErrorCode; detail: string; fieldCode: string }> = {
  too_deep: {
    code: 'json_too_deep',
    detail: `The request body must not nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep.`,
    fieldCode: 'too_deep',
  },
  nul: {
    code: 'invalid_characters',
    detail: 'Strings in the request body must not contain NUL characters.',
    fieldCode: 'invalid_characters',
  },
  unpaired_surrogate: {
    code: 'unpaired_surrogate',
    detail: 'Strings and keys in the request body must not contain an unpaired UTF-16 surrogate escape (\\ud800–\\udfff).',
    fieldCode: 'unpaired_surrogate',
  },
  reserved_key: { code: 'reserved_key', detail: 'The request body must not use __proto__ as a key.', fieldCode: 'reserved_key' },
  duplicate_key: {
    code: 'duplicate_key',
    detail: 'An object in the request body must not have the same key twice.',
    fieldCode: 'duplicate_key',
  },
};

function inspectJsonBody(text: string): unknown {
  const parsed = parseStrictJson(text, MAX_JSON_DEPTH);
  if (parsed.ok) return parsed.value;
  const { kind, pointer, detail } = parsed.violation;
  if (kind === 'malformed') throw new ApiError('malformed_json', { detail: `The request body is not valid JSON: ${detail}` });
  const refusal = REFUSALS[kind];
  throw new ApiError(refusal.code, { detail: refusal.detail, errors: [{ location: 'body', pointer, detail, code: refusal.fieldCode }] });
}

/**
 * Only the size limit, for a route that takes no body but reads what it is sent all the same (a
 * signed route hashes it: middleware/request-signature.ts).
 */
export function bodySizeLimit(): MiddlewareHandler<AppEnv> {
  return function bodySizeLimit(c, next) {
    return sizeLimiter(c.get('config').maxBodyBytes)(c, next);
  };
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
          const bytes = new Uint8Array(await c.req.arrayBuffer());
          // Every body the API declares is required; an absent one would otherwise validate as {}.
          if (bytes.byteLength === 0) throw new ApiError('malformed_request', { detail: 'This operation needs a JSON request body.' });
          if (contentType === undefined) throw new ApiError('unsupported_media_type', { detail: 'Send the body as application/json.' });
          const text = decodeBody(bytes);
          const value = inspectJsonBody(text);
          // Hono's later readers (the validator's c.req.json(), the idempotency fingerprint's
          // c.req.text()) take the text from here rather than decoding the bytes again, lossily.
          // Hono stores promises in bodyCache, though its type declares the resolved values.
          c.req.bodyCache.text = Promise.resolve(text) as unknown as string;
          c.req.bodyCache.json = Promise.resolve(value);
        }
      }
      await next();
    });
  };
}
