import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * PostgreSQL: the trigram index on `name` rebuilt under the "C" collation, so that the
 * test every match of a needle is rechecked with is bytewise (docs/search.md, "After 011 and 012").
 *
 * pg_trgm folds case by the database's locale when it makes trigrams, whatever the index's
 * collation: the index holds the same trigrams and finds the same rows. What changes is the
 * recheck. Under C.UTF-8 (or any locale but "C") `name ILIKE '%jpg%'` lowercases each whole
 * name into a copy first; under "C" it folds ASCII in place — half the time a match, and a
 * common needle's cost is its matches' rechecks (`jpg`: 276,000 of 1,000,000 names). The
 * queries (queries/filters.ts) name the index's collation so that it serves them, and
 * test a needle with other letters exactly on top of what it finds.
 *
 * Built from the table, in the migration's transaction: no rescan (12 s at 1,000,000
 * entries on a loaded machine). SQLite's FTS5 index is untouched.
 */
export function bytewiseNameTrigrams(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`DROP INDEX entries_name_trgm`.execute(db);
      await sql`CREATE INDEX entries_name_trgm
        ON entries USING gin (name COLLATE "C" gin_trgm_ops)`.execute(db);
    },
  };
}
