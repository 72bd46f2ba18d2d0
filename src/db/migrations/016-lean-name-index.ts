import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * SQLite: the FTS5 name index keeps which rows hold each trigram, no longer where in the
 * name (`detail=none`) nor each name's length (`columnsize=0`): 77 → 29 bytes an entry on
 * bench:schema's tree (docs/index-database.md, "Issue 12, bytes: SQLite").
 *
 * - `detail=none`: without positions a needle of four characters and more cannot be one
 *   phrase of trigrams; queries/filters.ts asks for all of its trigrams (AND) and tests
 *   each row found on its name, folded as the index folds it. A needle of three characters
 *   is one trigram, exact as before.
 * - `columnsize=0` rules out `contentless_delete=1` (006), whose per-row record of the
 *   segment a row was written to is most of the 12 bytes left. A row leaves through the
 *   'delete' command instead, which must repeat the name the row was indexed with: the
 *   triggers pass `old.name`, which is that name — the index is filled only from `entries`
 *   (006 here, sqlite/name-index.ts after), and a row's name changes only through the
 *   update trigger, which re-indexes it. Rows above the watermark were never indexed, and
 *   the triggers leave them alone as 007's did.
 *
 * Rebuilt from `entries` in the migration, no rescan: the rows up to
 * `search_watermark.upto`, exactly the rows the old table held (007's contract, which 013's
 * time steps share). PostgreSQL is untouched.
 */
export function leanNameIndex(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'sqlite') return;
      await sql`DROP TRIGGER entries_name_fts_delete`.execute(db);
      await sql`DROP TRIGGER entries_name_fts_update`.execute(db);
      await sql`DROP TABLE entries_name_fts`.execute(db);
      await sql`CREATE VIRTUAL TABLE entries_name_fts USING fts5(
        name, content='', tokenize='trigram', detail=none, columnsize=0)`.execute(db);
      // A backlog of 100,000 rows (sqlite/name-index.ts) fits in one segment under 16 MB of
      // pending terms, where FTS5's default 1 MB wrote ~10 segments for its merges to redo:
      // -2 bytes an entry, no slower. The setting is kept in the table's config.
      await sql`INSERT INTO entries_name_fts (entries_name_fts, rank)
        VALUES ('hashsize', ${sql.lit(16 * 1024 * 1024)})`.execute(db);
      await sql`INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries
        WHERE id <= (SELECT upto FROM search_watermark)`.execute(db);
      await sql`CREATE TRIGGER entries_name_fts_delete AFTER DELETE ON entries
        WHEN old.id <= (SELECT upto FROM search_watermark) BEGIN
        INSERT INTO entries_name_fts (entries_name_fts, rowid, name)
          VALUES ('delete', old.id, old.name); END`.execute(db);
      await sql`CREATE TRIGGER entries_name_fts_update AFTER UPDATE OF id, name ON entries
        WHEN old.id <= (SELECT upto FROM search_watermark) BEGIN
        INSERT INTO entries_name_fts (entries_name_fts, rowid, name)
          VALUES ('delete', old.id, old.name);
        INSERT INTO entries_name_fts (rowid, name) VALUES (new.id, new.name); END`.execute(db);
    },
  };
}
