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

export async function readPage<Row, R>(db: D1Database, query: PageQuery, toRecord: (row: Row) => R): Promise<Page<R>> {
  const next = query.params.length + 1;
  const { results } = await db
    .prepare(
      `${query.select}
          AND (?${next} IS NULL OR (created_at, id) > (?${next}, ?${next + 1}))
        ORDER BY created_at, id LIMIT ?${next + 2}`,
    )
    .bind(...query.params, query.after?.createdAt ?? null, query.after?.id ?? null, query.limit + 1)
    .all<Row>();
  return { items: results.slice(0, query.limit).map(toRecord), hasMore: results.length > query.limit };
}
