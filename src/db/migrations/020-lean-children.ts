import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';
import { PG_PARENT } from '../queries/parent.js';

/**
 * PostgreSQL: the children index keys a directory and a type only,
 * `(storage_id, hashtextextended(PG_PARENT, 0), is_dir)`, and the table is filled to its
 * pages' end (`fillfactor = 100`). Bytes an entry on the bench:schema media tree
 * (docs/index-database.md, "Sixth round: PostgreSQL bytes"):
 *
 * - 018's key went on with `name` and `id`, so each of its tuples was unique and B-tree
 *   deduplication never applied: 70.4 bytes an entry rebuilt. Every child of a directory
 *   of one type now has the same key, stored once with a list of the rows' heap addresses
 *   (deduplication, PostgreSQL 13+): ~7 bytes an entry. What the old key's order gave —
 *   a directory's children in name order — no reader needs from the index: the scan's
 *   reads aggregate a directory unordered, and a browse of a directory by name sorts its
 *   children as a browse by size or by time always did (a top-N sort; docs/search.md's
 *   big directory stays within its target).
 * - `fillfactor = 90` (001) kept a tenth of every heap page free so that a changed size or
 *   mtime could be updated in place (HOT). Since 008's large-file index (its predicate
 *   reads `size`) and 013's time steps (their key reads `mtime`) no such update can be
 *   HOT, and the free tenth was 18 bytes an entry of a first scan's table.
 *
 * Carried forward without a rescan: the index is built from the table in the migration's
 * transaction and takes the old one's name (plans and benches name it); the fillfactor
 * applies to pages written from now on (rows already written stay where they are until
 * `VACUUM FULL entries`). SQLite keeps its children index (the parent text is its key).
 */
export function leanChildren(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE INDEX entries_storage_parent_dir ON entries
        (storage_id, hashtextextended(${sql.raw(PG_PARENT)}, 0), is_dir)`.execute(db);
      await sql`DROP INDEX entries_storage_parent_name`.execute(db);
      await sql`ALTER INDEX entries_storage_parent_dir RENAME TO entries_storage_parent_name`.execute(
        db,
      );
      await sql`ALTER TABLE entries SET (fillfactor = 100)`.execute(db);
    },
  };
}
