/**
 * @module
 * Strict JSON: the one parse and inspection that HTTP bodies (src/middleware/request-limits.ts) and
 * WebSocket frames (src/durable-objects/session-room.ts) share, so both refuse the same documents.
 * Beyond what JSON.parse refuses, a document is refused when it
 * - nests objects and arrays deeper than {@link MAX_JSON_DEPTH};
 * - has a NUL character in a string or key (it truncates in C-based consumers and logs);
 * - has an unpaired UTF-16 surrogate written as an escape (`"\ud800"`): not Unicode text, so a
 *   UTF-8 encoder downstream replaces it with U+FFFD or fails;
 * - uses a reserved key, `__proto__`: zod's record parsing and plain JavaScript assignment drop it
 *   (or set a prototype instead), so the value would be silently lost. `constructor`, `prototype` and
 *   other Object.prototype names survive parsing, validation and storage verbatim and are allowed;
 * - repeats a key in one object: JSON.parse keeps the last value while other parsers (a proxy, a
 *   WAF, a log pipeline) may keep the first, so one body would mean two things.
 */

/** How deeply objects and arrays may nest, in request bodies and WebSocket frames alike. */
export const MAX_JSON_DEPTH = 10;

/** Keys refused anywhere in a document because JavaScript objects do not keep them as data. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__']);

export type JsonViolationKind = 'malformed' | 'too_deep' | 'nul' | 'unpaired_surrogate' | 'reserved_key' | 'duplicate_key';

export interface JsonViolation {
  kind: JsonViolationKind;
  /** RFC 6901 pointer to the value or key at fault; empty for the document itself. */
  pointer: string;
  /** What is wrong there, for a human (for `malformed`, JSON.parse's message). */
  detail: string;
}

export type StrictJson = { ok: true; value: unknown } | { ok: false; violation: JsonViolation };

/**
 * Parses `text` and returns its value, or the first violation in document order. Depth counts
 * containers: `{}` is 1, `{"a":[]}` 2, so a body's own object is level 1.
 *
 * @example
 * ```ts
 * const parsed = parseStrictJson('{"a":1,"a":2}');
 * // { ok: false, violation: { kind: 'duplicate_key', pointer: '/a', detail: '…' } }
 * ```
 */
export function parseStrictJson(text: string, maxDepth = MAX_JSON_DEPTH): StrictJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, violation: { kind: 'malformed', pointer: '', detail: (error as Error).message } };
  }
  const violation = scanJsonText(text, maxDepth);
  return violation ? { ok: false, violation } : { ok: true, value };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const DETAILS = {
  too_deep: (maxDepth: number) => `Nested deeper than ${maxDepth} levels`,
  nul: 'Contains a NUL character',
  unpaired_surrogate: 'Contains an unpaired UTF-16 surrogate',
  reserved_key: (key: string) => `The key ${key} is reserved`,
  duplicate_key: 'The key appears more than once in this object',
};

/**
 * One pass over text JSON.parse has already accepted (so it is well formed and needs no error
 * handling): a stack of open containers, each object's keys so far, and the key or index being
 * read at each level, from which the pointer is built only when something is wrong. It is O(n):
 * strings are skipped with indexOf, and only strings holding a backslash (or any string, if the
 * text itself holds a raw unpaired surrogate) are decoded, by JSON.parse of that slice, so `"a"`
 * and `"\u0061"` compare equal. It stops at the first container past `maxDepth`.
 *
 * Hand-written because no npm package fits: JSON.parse cannot see duplicate keys;
 * secure-json-parse checks `__proto__` / `constructor.prototype` but not duplicates;
 * json-dup-key-validator is unmaintained (last release 2017) and pulls in a dependency;
 * @humanwhocodes/momoa builds an AST with locations for every node and jsonc-parser's visitor
 * tokenises in JavaScript: measured at 10–25× and 2–4× this scan (which costs about one JSON.parse:
 * ~0.7 µs for a 200-byte device body, ~4 ms for 1 MB), and both would still leave depth, NUL,
 * surrogates and reserved keys to a second walk.
 */
function scanJsonText(text: string, maxDepth: number): JsonViolation | undefined {
  // Per open container, innermost last: an object's keys so far (undefined for an array), and the
  // key or index of the member being read.
  const keySets: Array<Set<string> | undefined> = [];
  const tokens: Array<string | number> = [];
  // Raw text from a UTF-8 decoder is always well formed; a string from elsewhere may not be.
  const rawWellFormed = isWellFormed(text);
  let expectKey = false;
  let nextBackslash = -1;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (char === QUOTE) {
      const end = closingQuote(text, index);
      if (nextBackslash < index) {
        nextBackslash = text.indexOf('\\', index);
        if (nextBackslash === -1) nextBackslash = text.length;
      }
      const decode = nextBackslash < end || !rawWellFormed;
      if (expectKey) {
        expectKey = false;
        const key = decode ? (JSON.parse(text.slice(index, end + 1)) as string) : text.slice(index + 1, end);
        const top = tokens.length - 1;
        tokens[top] = key;
        const problem = decode ? stringProblem(key) : undefined;
        if (problem) return { kind: problem, pointer: pointerOf(tokens), detail: DETAILS[problem] };
        if (RESERVED_KEYS.has(key)) return { kind: 'reserved_key', pointer: pointerOf(tokens), detail: DETAILS.reserved_key(key) };
        const keys = keySets[top] as Set<string>;
        if (keys.has(key)) return { kind: 'duplicate_key', pointer: pointerOf(tokens), detail: DETAILS.duplicate_key };
        keys.add(key);
      } else if (decode) {
        const problem = stringProblem(JSON.parse(text.slice(index, end + 1)) as string);
        if (problem) return { kind: problem, pointer: pointerOf(tokens), detail: DETAILS[problem] };
      }
      index = end;
    } else if (char === OPEN_OBJECT || char === OPEN_ARRAY) {
      if (tokens.length + 1 > maxDepth) return { kind: 'too_deep', pointer: pointerOf(tokens), detail: DETAILS.too_deep(maxDepth) };
      const isObject = char === OPEN_OBJECT;
      keySets.push(isObject ? new Set() : undefined);
      tokens.push(isObject ? '' : 0);
      expectKey = isObject;
    } else if (char === CLOSE_OBJECT || char === CLOSE_ARRAY) {
      keySets.pop();
      tokens.pop();
      expectKey = false;
    } else if (char === COMMA) {
      const top = tokens.length - 1;
      if (keySets[top] === undefined) tokens[top] = (tokens[top] as number) + 1;
      else expectKey = true;
    }
  }
  return undefined;
}

/** The index of the quote closing the string that opens at `start`: the first one not escaped. */
function closingQuote(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

function stringProblem(value: string): 'nul' | 'unpaired_surrogate' | undefined {
  if (value.includes('\u0000')) return 'nul';
  if (!isWellFormed(value)) return 'unpaired_surrogate';
  return undefined;
}

/** `String.prototype.isWellFormed` (ES2024; in workerd's V8, not yet in this project's `lib`). */
function isWellFormed(value: string): boolean {
  return (value as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function pointerOf(tokens: ReadonlyArray<string | number>): string {
  let pointer = '';
  for (const token of tokens) pointer += `/${typeof token === 'number' ? token : token.replaceAll('~', '~0').replaceAll('/', '~1')}`;
  return pointer;
}
