/**
 * @module
 * The `d1_migrations` table that `wrangler d1 migrations apply` (and the test setup) maintain.
 */

/**
 * The newest migration this code needs. A test checks it against the last file in migrations/,
 * so adding a migration without bumping it fails.
 */
export const REQUIRED_MIGRATION = '0017_organization_exports.sql';

/** Whether `name` has been applied. Throws when the table is missing (nothing applied at all). */
export async function isMigrationApplied(db: D1Database, name: string): Promise<boolean> {
  const row = await db.prepare('SELECT 1 AS applied FROM d1_migrations WHERE name = ?1').bind(name).first<{ applied: number }>();
  return row !== null;
}
