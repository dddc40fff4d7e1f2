/**
 * @module
 * How D1 reports a UNIQUE constraint refusing a row. The one place that reads SQLite's message, so
 * a change in its wording is fixed once: D1 puts it in the error's message, and sometimes only in
 * its cause.
 */

/** Whether `error` is SQLite refusing a duplicate of `columns` (in their index order) in `table`. */
export function isUniqueViolation(error: unknown, table: string, columns: readonly string[]): boolean {
  if (!(error instanceof Error)) return false;
  const constraint = `UNIQUE constraint failed: ${columns.map((column) => `${table}.${column}`).join(', ')}`;
  return `${error.message} ${String(error.cause ?? '')}`.includes(constraint);
}
