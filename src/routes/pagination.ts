/**
 * @module
 * Every list's page: the `cursor` query parameter is the position to continue after, or a 400
 * naming the parameter when it is not a cursor this list returned to this organisation.
 */
import type { Page } from '../db/page.ts';
import { ApiError } from '../errors.ts';
import { type CursorPosition, decodeCursor, nextCursor } from '../lib/cursor.ts';

/** The position to continue after, from an optional `cursor` query parameter. */
function positionAfter(cursor: string | undefined, orgId: string, list: string): CursorPosition | undefined {
  if (cursor === undefined) return undefined;
  const position = decodeCursor(cursor, orgId, list);
  if (position === undefined) {
    throw new ApiError('validation_failed', {
      detail: 'query/cursor: not a cursor this list returned; start again without one',
      errors: [{ location: 'query', pointer: '/cursor', detail: 'Invalid cursor', code: 'invalid_cursor' }],
    });
  }
  return position;
}

/**
 * The body of a list response: the page after `cursor`, presented, with the cursor that follows
 * it. `read` reads the page from the position; `list` names the list the cursors belong to.
 */
export async function listBody<R extends CursorPosition, T>(
  orgId: string,
  list: string,
  cursor: string | undefined,
  read: (after: CursorPosition | undefined) => Promise<Page<R>>,
  present: (record: R) => T,
): Promise<{ data: T[]; next_cursor: string | null }> {
  const { items, hasMore, resumeAfter } = await read(positionAfter(cursor, orgId, list));
  return { data: items.map(present), next_cursor: nextCursor(orgId, list, resumeAfter === undefined ? items : [resumeAfter], hasMore) };
}
