import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';
import { PG_PARENT } from '../queries/parent.js';

/**
 * PostgreSQL: `entries` no longer stores `parent`. A path is always its parent, `/` and its
 * name (scan/listing.ts refuses any listing where it is not), so the parent is computed
 * from the row (queries/parent.ts, `PG_PARENT`) wherever a statement reads it, and the
 * children index of 015 keys the hash of that expression instead of the column's:
 * `(storage_id, hashtextextended(PG_PARENT, 0), is_dir, name COLLATE "C", id)`. The parent
 * text was 31 bytes of every row of the media tree (docs/index-database.md, "Issue 12 on
 * PostgreSQL: the parent no longer stored"), and a column that COPY sent, parsed and wrote
 * for every row of a first scan.
 *
 * Carried forward without a rescan: the index is built from the table in the migration's
 * transaction (the old one keeps serving nothing else), then takes the old one's name, then
 * the column goes. `DROP COLUMN` rewrites nothing: rows already written keep the dead bytes
 * until they are rewritten (an update, or `VACUUM FULL entries` by hand); every row written
 * after it is lean. SQLite has computed its parent since 007.
 */
export function computedParent(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE INDEX entries_storage_parent_computed ON entries
        (storage_id, hashtextextended(${sql.raw(PG_PARENT)}, 0), is_dir, name COLLATE "C", id)`.execute(
        db,
      );
      await sql`DROP INDEX entries_storage_parent_name`.execute(db);
      await sql`ALTER INDEX entries_storage_parent_computed RENAME TO entries_storage_parent_name`.execute(
        db,
      );
      await sql`ALTER TABLE entries DROP COLUMN parent`.execute(db);
    },
  };
}
