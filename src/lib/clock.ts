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

/**
 * Bounds past every timestamp stored, for an open end of a time window: bound as a value, both ends
 * stay one range on an index, where `?n IS NULL OR created_at < ?n` would be a filter on every row.
 */
export const BEGINNING_OF_TIME = '0000-01-01T00:00:00.000Z';
export const END_OF_TIME = '9999-12-31T23:59:59.999Z';
