/**
 * @module
 * Timestamps as stored and returned: ISO 8601 UTC with milliseconds, which sort as text.
 */

export function nowIso(): string {
  return new Date().toISOString();
}

export function isoAfter(milliseconds: number, from: Date = new Date()): string {
  return new Date(from.getTime() + milliseconds).toISOString();
}
