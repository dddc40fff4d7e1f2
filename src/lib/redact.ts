/**
 * @module
 * Removes secrets from anything about to be logged. Two nets: field names that say "secret"
 * (authorization, cookie, token, key, password…), and values that look like one wherever they
 * appear (bearer credentials, Switchyard API keys, JWTs, secret-named query parameters).
 */

export const REDACTED = '[REDACTED]';

const SENSITIVE_NAME = /authorization|cookie|token|secret|passw(or)?d|api[-_]?key|credential|signature|^key$/i;

const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // A credential after an auth scheme, as in an Authorization header copied into a message.
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // Switchyard API keys: sy_live_… / sy_test_…
  [/\bsy_(live|test)_[A-Za-z0-9]+/g, REDACTED],
  // JWTs (three base64url segments, the first a JSON header).
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // Secret-named parameters in query strings and form bodies.
  [/([?&;](?:[^=&;\s]*(?:token|secret|key|password|signature|auth)[^=&;\s]*)=)[^&;\s#]*/gi, `$1${REDACTED}`],
];

// Any of the patterns, case-insensitively: a superset of what they match, so one test tells which
// strings (nearly all of them) need none of the replacements.
const MAYBE_SECRET = new RegExp(SECRET_PATTERNS.map(([pattern]) => `(?:${pattern.source})`).join('|'), 'i');

/** Replaces every secret-looking part of a string. */
export function redactString(value: string): string {
  if (!MAYBE_SECRET.test(value)) return value;
  let result = value;
  for (const [pattern, replacement] of SECRET_PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

/**
 * Returns a copy of `value` safe to log: secret-named fields replaced whole, strings scrubbed,
 * errors reduced to name, message and stack (all scrubbed). Cycles and depth are bounded.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[Truncated]';
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redactString(value.message),
      ...(value.stack ? { stack: redactString(value.stack) } : {}),
      ...(value.cause !== undefined ? { cause: redact(value.cause, depth + 1) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Headers) return redact(Object.fromEntries(value), depth + 1);
  const result: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(value)) {
    result[key] = SENSITIVE_NAME.test(key) ? REDACTED : redact(entry, depth + 1);
  }
  return result;
}
