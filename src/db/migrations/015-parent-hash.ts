import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * PostgreSQL: the children index keys a directory by a 64-bit hash of its path instead of
 * the path itself: `(storage_id, hashtextextended(parent, 0), is_dir, name COLLATE "C", id)`.
 * The parent text averaged 31 of the key's bytes on the bench:schema tree and is the same
 * for every child of a directory, while the index (id included) holds one tuple per entry,
 * so PostgreSQL's deduplication never saves it: 137.8 → 99.9 bytes an entry as a first scan
 * writes it, 97.8 → 70.4 rebuilt (docs/index-database.md). A directory's children are still
 * one range of the index, in (is_dir, name) order; every statement that finds children by
 * parent names the hash (the index condition) and the parent (tested on the row, so two
 * directories whose hashes collide never mix: queries/parent.ts). The writes are unchanged:
 * the hash is computed by the server from the row's own `parent`, so COPY stays as it was.
 *
 * `hashtextextended` is a built-in immutable function (PostgreSQL 11+), the one hash
 * partitioning uses, so its value is fixed across releases for a given text.
 *
 * Built from the table in the migration's transaction (no rescan), then it takes the old
 * index's name, which benches and plans refer to. SQLite keeps the parent text: its key is
 * a computed column (007) and a hash would not fit its ordered `GROUP BY parent` reads.
 */
export function parentHash(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE INDEX entries_storage_parent_hash
        ON entries (storage_id, hashtextextended(parent, 0), is_dir, name COLLATE "C", id)`.execute(
        db,
      );
      await sql`DROP INDEX entries_storage_parent_name`.execute(db);
      await sql`ALTER INDEX entries_storage_parent_hash RENAME TO entries_storage_parent_name`.execute(
        db,
      );
    },
  };
}
