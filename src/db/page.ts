/**
 * @module
 * Keyset pagination, the one way every list reads a page: rows in (created_at, id) order after
 * the position a cursor names, and one row more than the page, to tell whether more follow. Rows
 * added while a client pages land after its position, so none is skipped or repeated.
 */
import { END_OF_TIME } from '../lib/clock.ts';
import type { CursorPosition } from '../lib/cursor.ts';

export interface Page<R> {
  items: R[];
  hasMore: boolean;
  /**
   * Where the next page starts when that is not after the last item: a filtered page whose
   * examined rows ran out before it filled ({@link readFilteredPage}).
   */
  resumeAfter?: CursorPosition;
}

/**
 * The most rows a filtered page examines. Without a bound, a filter the list's index cannot seek
 * to (a device search matching one device in 100,000) walks every row of the organisation for one
 * page: 36.6 ms of D1 time per request at 100,000 devices, which one tenant could spend on the
 * database every tenant shares. 5,000 rows cost ~2 ms; a sparse filter answers short pages (even
 * empty ones) with a `next_cursor` to continue from, as DynamoDB's filtered scans do.
 */
export const FILTERED_PAGE_SCAN_ROWS = 5_000;

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

export interface FilteredPageQuery {
  /** The list's table; its list index ends in (created_at, id). */
  table: string;
  /** The conditions the list's index seeks to (`org_id = ?1`), with `?1`…`?n` bound to `params`. */
  scope: string;
  /** The conditions it cannot seek to, tested on each row the scope yields; may use `params` too. */
  filter: string;
  params: unknown[];
  limit: number;
  after: CursorPosition | undefined;
}

type ScannedRow<Row> = Row & { created_at: string; id: string; page_match: 0 | 1 };

function byPosition(a: CursorPosition, b: CursorPosition): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * A page of the rows that pass `filter`, among at most {@link FILTERED_PAGE_SCAN_ROWS} rows after
 * the position. One statement: `bound` is the last row the page may examine (read from the list's
 * covering index), the first arm the matches up to it, and the second arm that bound row itself
 * (`page_match = 0`), so that a page with too few matches still says where its examination ended.
 */
export async function readFilteredPage<Row, R>(db: D1Database, query: FilteredPageQuery, toRecord: (row: Row) => R): Promise<Page<R>> {
  const { table, scope, filter, params, limit, after } = query;
  const cursorParams = after === undefined ? [] : [after.createdAt, after.id];
  const next = params.length + 1;
  const afterCursor = after === undefined ? '' : ` AND (created_at, id) > (?${next}, ?${next + 1})`;
  const [offset, rows, end] = [next + cursorParams.length, next + cursorParams.length + 1, next + cursorParams.length + 2];
  const sql = `WITH bound AS MATERIALIZED (
      SELECT created_at, id FROM ${table} WHERE ${scope}${afterCursor} ORDER BY created_at, id LIMIT 1 OFFSET ?${offset})
    SELECT * FROM (
      SELECT *, 1 AS page_match FROM ${table}
        WHERE ${scope}${afterCursor}
          AND (created_at, id) <= (coalesce((SELECT created_at FROM bound), ?${end}), coalesce((SELECT id FROM bound), ''))
          AND (${filter})
        ORDER BY created_at, id LIMIT ?${rows})
    UNION ALL
    SELECT *, 0 AS page_match FROM ${table} WHERE ${scope} AND id = (SELECT id FROM bound)`;
  const { results } = await db
    .prepare(sql)
    .bind(...params, ...cursorParams, FILTERED_PAGE_SCAN_ROWS - 1, limit + 1, END_OF_TIME)
    .all<ScannedRow<Row>>();
  const bound = results.find((row) => row.page_match === 0);
  // SQL orders neither a compound's arms nor the rows of a subquery it reads, so the page is put in order here.
  const matches = results
    .filter((row) => row.page_match === 1)
    .map((row) => ({ row, createdAt: row.created_at, id: row.id }))
    .sort(byPosition);
  const items = matches.slice(0, limit).map(({ row }) => toRecord(row));
  if (matches.length > limit) return { items, hasMore: true };
  if (bound === undefined) return { items, hasMore: false };
  return { items, hasMore: true, resumeAfter: { createdAt: bound.created_at, id: bound.id } };
}
