import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Search over `entries` (src/db/queries/), with what a scan can afford to keep up to date:
 * - A substring index on `name`, case-insensitive: PostgreSQL's pg_trgm GIN index (serves
 *   `name ILIKE '%…%'`), SQLite's FTS5 `trigram` table kept by triggers (serves
 *   `MATCH '"…"'`). Both need three characters.
 * - `(storage_id, parent, is_dir, name, id)`: a directory's subdirectories and files apart,
 *   counted from the index alone and listed by name in order, however big the directory.
 *   Cheap to keep: a scan writes a directory's children together, so their index entries
 *   land side by side.
 * Not kept: an index ordering a whole tenant by name, size or time. Its entries land at
 * random, so each batch of a scan rewrites most of its pages: one on (tenant_id, name) took
 * the first write of 1,000,000 entries from ×2.6 to ×5.2–5.7 the time without 006 on SQLite,
 * from ×2.0 to ×2.5 on PostgreSQL (npm run bench:search -- --rejected; docs/search.md).
 */
export function search(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect === 'postgres') await postgres(db);
      else await sqlite(db);
    },
  };
}

async function postgres(db: Kysely<unknown>): Promise<void> {
  await ensureTrigram(db);
  // On name itself (not lower(name)): pg_trgm folds case in its trigrams, so the one index
  // serves ILIKE and the planner keeps the column's statistics.
  await sql`CREATE INDEX entries_name_trgm ON entries USING gin (name gin_trgm_ops)`.execute(db);
  // Names bytewise, like paths, so that both dialects list them alike whatever the locale.
  await sql`CREATE INDEX entries_storage_parent_name
    ON entries (storage_id, parent, is_dir, name COLLATE "C", id)`.execute(db);
}

/**
 * pg_trgm ships with PostgreSQL and is a trusted extension (13+): a user with CREATE on the
 * database may create it. One already there (made by an administrator) is used as is.
 */
async function ensureTrigram(db: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`.execute(db);
  if (rows[0]?.n) return;
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
  } catch (error) {
    throw new Error(
      `search needs the PostgreSQL extension pg_trgm, and it could not be created ` +
        `(${(error as Error).message}); have a superuser run "CREATE EXTENSION pg_trgm;" ` +
        `in this database (the package postgresql-contrib provides it), then open the index again`,
      { cause: error },
    );
  }
}

async function sqlite(db: Kysely<unknown>): Promise<void> {
  // Contentless (the names live in entries only) with deletes by rowid (SQLite 3.43+): an
  // external-content table holds the same index, but its delete must repeat the old name
  // exactly or it corrupts the index; this one needs the rowid alone.
  await sql`CREATE VIRTUAL TABLE entries_name_fts USING fts5(
    name, content='', contentless_delete=1, tokenize='trigram')`.execute(db);
  await sql`INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries`.execute(db);
  await sql`CREATE TRIGGER entries_name_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_name_fts (rowid, name) VALUES (new.id, new.name); END`.execute(db);
  await sql`CREATE TRIGGER entries_name_fts_delete AFTER DELETE ON entries BEGIN
    DELETE FROM entries_name_fts WHERE rowid = old.id; END`.execute(db);
  // Scans never rename a row (a renamed file is a new path), but nothing else may drift.
  await sql`CREATE TRIGGER entries_name_fts_update AFTER UPDATE OF id, name ON entries BEGIN
    DELETE FROM entries_name_fts WHERE rowid = old.id;
    INSERT INTO entries_name_fts (rowid, name) VALUES (new.id, new.name); END`.execute(db);
  await sql`CREATE INDEX entries_storage_parent_name
    ON entries (storage_id, parent, is_dir, name)`.execute(db);
}
