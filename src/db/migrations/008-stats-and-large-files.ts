import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Files of this many bytes and more are indexed by size (`entries_large`): few in most
 * trees (videos, disk images, archives), and what "the largest files" are made of. The
 * queries (src/db/queries/plan.ts) repeat it; changing it takes a migration.
 */
export const LARGE_FILE_BYTES = 100_000_000;

/**
 * Two things search keeps beyond 006 (docs/search.md):
 *
 * `entries_large (tenant_id, size, id) WHERE size >= 100 MB`: the largest files of a tenant
 * in size order, so "by size, largest first" and "at least N MB" read a few index rows
 * instead of the tenant's entries. Partial: an index of every size takes its inserts at
 * random, which the first scan pays (docs/search.md); this one takes only the large files.
 *
 * And what tells a cached `stats` of a storage (src/db/queries/stats-cache.ts) that its entries
 * changed, whoever changed them (a scan, a watch, a delete, another process or API node).
 *
 * PostgreSQL: `entry_writes`, a row `(storage_id, n = 1)` for every statement that wrote
 * entries of that storage — statement-level triggers reading the statement's transition
 * table, so a COPY of a 5,000-entry batch adds one row, not 5,000. A storage's generation
 * is `sum(n)` of its rows: it moves exactly when a writer commits (the rows are the
 * writer's), and inserts take no lock another writer waits on — a counter row updated in
 * place would be held from a batch's first statement to its commit, and two overlapping
 * scans of one storage could deadlock on it. The reader folds a storage's rows into one
 * (same sum) when they pile up.
 *
 * SQLite: no table. Its connection tells every commit apart already (`PRAGMA
 * data_version` for other connections, `total_changes()` for its own), at no cost to a
 * write; the cache keys on those (any change to the file, not only to one storage's
 * entries — an embedded index has one tenant and a few storages).
 */
export function statsAndLargeFiles(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // The bound is a literal: a query uses a partial index only when its own WHERE
      // repeats it (src/db/queries/plan.ts), which a parameter would not on SQLite.
      const id = dialect === 'postgres' ? sql`, id` : sql``;
      await sql`CREATE INDEX entries_large ON entries (tenant_id, size${id})
        WHERE size >= ${sql.lit(LARGE_FILE_BYTES)}`.execute(db);
      if (dialect === 'postgres') await entryWrites(db);
    },
  };
}

async function entryWrites(db: Kysely<unknown>): Promise<void> {
  // No foreign key: the rows of a deleted storage are harmless (ids are never reused), and
  // the delete of its entries must still add its row.
  await sql`CREATE TABLE entry_writes (storage_id bigint NOT NULL, n bigint NOT NULL)`.execute(db);
  await sql`CREATE INDEX entry_writes_storage ON entry_writes (storage_id)`.execute(db);
  await sql`CREATE FUNCTION trawl_count_entry_writes() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        INSERT INTO entry_writes (storage_id, n) SELECT DISTINCT storage_id, 1 FROM trawl_old_rows;
      ELSE
        INSERT INTO entry_writes (storage_id, n) SELECT DISTINCT storage_id, 1 FROM trawl_new_rows;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  // One trigger per event: PostgreSQL allows transition tables on single-event triggers only.
  for (const [event, rows] of [
    ['INSERT', 'NEW TABLE AS trawl_new_rows'],
    ['UPDATE', 'NEW TABLE AS trawl_new_rows'],
    ['DELETE', 'OLD TABLE AS trawl_old_rows'],
  ] as const) {
    await sql`CREATE TRIGGER ${sql.raw(`entries_writes_${event.toLowerCase()}`)}
      AFTER ${sql.raw(event)} ON entries REFERENCING ${sql.raw(rows)}
      FOR EACH STATEMENT EXECUTE FUNCTION trawl_count_entry_writes()`.execute(db);
  }
  // Entries written before this migration have no rows yet: generation 0, which a stats
  // read caches from and the first write moves.
}
