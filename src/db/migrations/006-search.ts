import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Search over `entries` (src/db/queries/).
 * - A substring index on `name`, case-insensitive: PostgreSQL's pg_trgm GIN index (serves
 *   `name ILIKE '%…%'`), SQLite's FTS5 `trigram` table kept by triggers (serves
 *   `MATCH '"…"'`). Both need three characters; shorter needles take the bounded walk.
 * - One ordered index per sort key, tenant first: `(tenant_id, name|size|mtime, id)`. A
 *   page of a huge result set walks one of them in order instead of sorting every match,
 *   and a size or time range is read from them.
 * What they cost the first write of 1,000,000 entries: docs/search.md (npm run bench:search).
 */
export function search(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect === 'postgres') await postgres(db);
      else await sqlite(db);
    },
  };
}

/** Index names, so that the bench can drop them to measure what they cost. */
export const SEARCH_INDEXES = [
  'entries_tenant_name',
  'entries_tenant_size',
  'entries_tenant_mtime',
];

async function postgres(db: Kysely<unknown>): Promise<void> {
  await ensureTrigram(db);
  // On name itself (not lower(name)): pg_trgm folds case in its trigrams, so the one index
  // serves ILIKE and the planner keeps the column's statistics.
  await sql`CREATE INDEX entries_name_trgm ON entries USING gin (name gin_trgm_ops)`.execute(db);
  // Bytewise like path, so that both dialects sort names alike whatever the database's locale.
  await sql`CREATE INDEX entries_tenant_name ON entries (tenant_id, name COLLATE "C", id)`.execute(
    db,
  );
  await sql`CREATE INDEX entries_tenant_size ON entries (tenant_id, size, id)`.execute(db);
  await sql`CREATE INDEX entries_tenant_mtime ON entries (tenant_id, mtime, id)`.execute(db);
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
  // Contentless (the names live in entries only) with deletes by rowid (SQLite 3.43+):
  // half the size of an external-content table, and a delete needs no old value.
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
  await sql`CREATE INDEX entries_tenant_name ON entries (tenant_id, name)`.execute(db);
  await sql`CREATE INDEX entries_tenant_size ON entries (tenant_id, size)`.execute(db);
  await sql`CREATE INDEX entries_tenant_mtime ON entries (tenant_id, mtime)`.execute(db);
}
