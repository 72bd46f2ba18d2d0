import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * A leaner write path (docs/index-database.md, "Where the bytes and the time go"):
 * - `entries_storage_parent` goes: 006's (storage_id, parent, is_dir, name…) begins with
 *   the same columns and serves every lookup it served. It held 48 of SQLite's 415 bytes an
 *   entry and took a tenth of a first write's time.
 * - SQLite's FTS5 name index is no longer written row by row by a trigger: that cost half of
 *   a first write, most of it FTS5 flushing and merging a small segment per transaction.
 *   Rows up to `search_watermark.upto` are in it; the rows after are added in bulk
 *   (sqlite/name-index.ts) when the backlog grows large, when the index is closed and before
 *   a search. Removals still leave it by trigger, the rows it holds only (ids are never
 *   reused: AUTOINCREMENT). Nothing is rescanned: every row 006 indexed is below the mark.
 * - SQLite's `parent` is no longer stored in each row but computed from `path` and `name`
 *   (a virtual generated column; a path is always its parent, `/` and its name, the
 *   engine checks it: scan/listing.ts). Only its index holds it now: 40 bytes an entry
 *   less. PostgreSQL has stored generated columns only, which would save nothing.
 */
export function leanWrites(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`DROP INDEX IF EXISTS entries_storage_parent`.execute(db);
      if (dialect === 'sqlite') await sqlite(db);
    },
  };
}

/** `parent` of a path, from its name: `/` for `/a`, `/a` for `/a/b`. */
const PARENT = sql.raw(`CASE WHEN length(path) = length(name) + 1 THEN '/'
  ELSE substr(path, 1, length(path) - length(name) - 1) END`);

async function sqlite(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX entries_storage_parent_name`.execute(db);
  await sql`ALTER TABLE entries DROP COLUMN parent`.execute(db);
  await sql`ALTER TABLE entries ADD COLUMN parent text GENERATED ALWAYS AS (${PARENT}) VIRTUAL`.execute(
    db,
  );
  await sql`CREATE INDEX entries_storage_parent_name
    ON entries (storage_id, parent, is_dir, name)`.execute(db);
  await sql`CREATE TABLE search_watermark (upto integer NOT NULL)`.execute(db);
  await sql`INSERT INTO search_watermark (upto) SELECT COALESCE(max(id), 0) FROM entries`.execute(
    db,
  );
  for (const t of ['insert', 'delete', 'update']) {
    await sql`DROP TRIGGER IF EXISTS ${sql.ref(`entries_name_fts_${t}`)}`.execute(db);
  }
  await sql`CREATE TRIGGER entries_name_fts_delete AFTER DELETE ON entries
    WHEN old.id <= (SELECT upto FROM search_watermark) BEGIN
    DELETE FROM entries_name_fts WHERE rowid = old.id; END`.execute(db);
  // Scans never rename a row (a renamed file is a new path) nor change an id, but nothing
  // else may drift: a renamed row the index holds is indexed again under its new name.
  await sql`CREATE TRIGGER entries_name_fts_update AFTER UPDATE OF id, name ON entries
    WHEN old.id <= (SELECT upto FROM search_watermark) BEGIN
    DELETE FROM entries_name_fts WHERE rowid = old.id;
    INSERT INTO entries_name_fts (rowid, name) VALUES (new.id, new.name); END`.execute(db);
}
