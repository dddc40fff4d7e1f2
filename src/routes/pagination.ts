/**
 * @module
 * The `cursor` query parameter of every list: the position to continue after, or a 400 naming the
 * parameter when it is not a cursor this list returned to this organisation.
 */
import { ApiError } from '../errors.ts';
import { type CursorPosition, decodeCursor } from '../lib/cursor.ts';

export { nextCursor } from '../lib/cursor.ts';

/** The position to continue after, from an optional `cursor` query parameter. */
export function positionAfter(cursor: string | undefined, orgId: string, list: string): CursorPosition | undefined {
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
