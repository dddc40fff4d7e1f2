/**
 * @module
 * Keyset pagination, the one way every list reads a page: rows in (created_at, id) order after
 * the position a cursor names, and one row more than the page, to tell whether more follow. Rows
 * added while a client pages land after its position, so none is skipped or repeated.
 */
import type { CursorPosition } from '../lib/cursor.ts';

export interface Page<R> {
  items: R[];
  hasMore: boolean;
}

export interface PageQuery {
  /** `SELECT … FROM table WHERE …`: the list's own filters, with `?1`…`?n` bound to `params`. */
  select: string;
  params: unknown[];
  limit: number;
  after: CursorPosition | undefined;
}

/**
 * A page after a cursor starts at its position with `(created_at, id) > (…)`, which SQLite seeks to
 * in the list's index (each ends in created_at, id), so a deep page costs what the first one does.
 * The first page is a statement of its own: `(? IS NULL OR (created_at, id) > (…))`, one statement
 * for both, is an OR that SQLite cannot make a range of, and every page walked the list from its start.
 */
export async function readPage<Row, R>(db: D1Database, query: PageQuery, toRecord: (row: Row) => R): Promise<Page<R>> {
  const next = query.params.length + 1;
  const { sql, params } =
    query.after === undefined
      ? { sql: `${query.select} ORDER BY created_at, id LIMIT ?${next}`, params: [...query.params, query.limit + 1] }
      : {
          sql: `${query.select} AND (created_at, id) > (?${next}, ?${next + 1}) ORDER BY created_at, id LIMIT ?${next + 2}`,
          params: [...query.params, query.after.createdAt, query.after.id, query.limit + 1],
        };
  const { results } = await db
    .prepare(sql)
    .bind(...params)
    .all<Row>();
  return { items: results.slice(0, query.limit).map(toRecord), hasMore: results.length > query.limit };
}
