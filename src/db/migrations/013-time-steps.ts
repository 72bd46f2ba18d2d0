import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';
import { MTIME_STEP_MS } from './009-time-order.js';

/**
 * SQLite: 009's time steps leave the write path, as 007 took the name index out of it.
 * `entries_mtime_step (tenant_id, mtime / 30 days)` was an index, written with every
 * batch: a batch of a first scan holds rows of most steps (mtimes spread over years), so
 * each of its transactions dirtied one index page per step — a first write of 200,000
 * entries ×1.98 → ×3.01 the time without 006 (docs/search.md), for 3 MB of index.
 *
 * `entries_time_steps (tenant_id, step, id)` holds the same keys in a table of its own,
 * kept up like the name index: the rows up to `search_watermark.upto` are in it, the rows
 * after are added in bulk with the name index's (sqlite/name-index.ts: when the backlog
 * reaches 100,000 rows, when the index is closed and before a search), sorted, so that
 * 100,000 rows touch each step's last page once. Removals and moves to another step leave
 * it by trigger, for the rows it holds. A query reads a step range from it and the rows
 * above the mark from `entries` (queries/by-time.ts): the same rows the index gave.
 *
 * Built from the table, no rescan. PostgreSQL keeps 009's index: it costs a first write
 * +10 % there (a batch is one COPY, its pages written once).
 */
export function timeSteps(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'sqlite') return;
      const step = sql.lit(MTIME_STEP_MS);
      // WITHOUT ROWID: the key is the row, 3 integers (~10 bytes) an entry.
      await sql`CREATE TABLE entries_time_steps (
        tenant_id integer NOT NULL, step integer NOT NULL, id integer NOT NULL,
        PRIMARY KEY (tenant_id, step, id)) WITHOUT ROWID`.execute(db);
      await sql`INSERT INTO entries_time_steps (tenant_id, step, id)
        SELECT tenant_id, mtime / ${step}, id FROM entries
        WHERE id <= (SELECT upto FROM search_watermark) ORDER BY 1, 2, 3`.execute(db);
      await sql`DROP INDEX entries_mtime_step`.execute(db);
      await sql`CREATE TRIGGER entries_time_steps_delete AFTER DELETE ON entries
        WHEN old.id <= (SELECT upto FROM search_watermark) BEGIN
        DELETE FROM entries_time_steps
        WHERE tenant_id = old.tenant_id AND step = old.mtime / ${step} AND id = old.id; END`.execute(
        db,
      );
      // A rescan sets mtime on every changed row; the table moves only a row whose step
      // changed.
      await sql`CREATE TRIGGER entries_time_steps_update AFTER UPDATE OF id, tenant_id, mtime
        ON entries WHEN old.id <= (SELECT upto FROM search_watermark)
          AND (new.id <> old.id OR new.tenant_id <> old.tenant_id
            OR new.mtime / ${step} <> old.mtime / ${step}) BEGIN
        DELETE FROM entries_time_steps
        WHERE tenant_id = old.tenant_id AND step = old.mtime / ${step} AND id = old.id;
        INSERT INTO entries_time_steps (tenant_id, step, id)
        SELECT new.tenant_id, new.mtime / ${step}, new.id
        WHERE new.id <= (SELECT upto FROM search_watermark); END`.execute(db);
    },
  };
}
