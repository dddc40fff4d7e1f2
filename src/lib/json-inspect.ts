/**
 * @module
 * Checks a parsed JSON value for what JSON.parse accepts but the API refuses: nesting deeper than
 * a limit, and NUL characters in strings or keys (they truncate in C-based consumers and logs).
 */

export type JsonViolation = { kind: 'too_deep' | 'nul'; pointer: string };

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Returns the first violation found, or undefined. Depth counts containers: `{}` is 1, `{"a":[]}` 2.
 * The walk stops at `maxDepth + 1`, so a hostile document costs no more than a legal one.
 */
export function findJsonViolation(value: unknown, maxDepth: number, pointer = '', depth = 0): JsonViolation | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? { kind: 'nul', pointer } : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (depth + 1 > maxDepth) return { kind: 'too_deep', pointer };
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [String(index), item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    const childPointer = `${pointer}/${escapePointerToken(key)}`;
    if (key.includes('\u0000')) return { kind: 'nul', pointer: childPointer };
    const found = findJsonViolation(item, maxDepth, childPointer, depth + 1);
    if (found) return found;
  }
  return undefined;
}
