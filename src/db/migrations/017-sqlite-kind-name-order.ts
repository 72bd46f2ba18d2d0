import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * SQLite: `entries_kind_name (media_kind, tenant_id, name)`, each media kind's entries of a
 * tenant in name order — 014's two PostgreSQL indexes in one. SQLite takes `media_kind IS
 * NULL` as an equality on an index column, so the entries of no kind are a range of the
 * same index in name order; and the rowid (`id`, the tie-break of every order by name) ends
 * each key without being written twice. A page by name is then walked as on PostgreSQL
 * (queries/by-name.ts): a kind's range from its first name, or the merge of one range per
 * kind and one of none (a compound SELECT's MERGE, no sort), every filter tested on the
 * entries walked. A kind alone, or a size range, by name read and sorted the whole table
 * before: 88–106 ms p95 at 1,000,000 entries on a quiet machine, 1–3 ms after
 * (docs/search.md, "After 017").
 *
 * One index for both: a partial one over the kinds alone would serve a kind but not a size
 * range, whose page needs the entries of no kind in order too. The kind leads, not the
 * tenant: SQLite plans without statistics and would take an index that leads with
 * `tenant_id` for any statement naming the tenant alone (a storage's stats read it through
 * this index, at random: 0.6 → 1.9 s at 1,000,000 entries, measured); no statement but the
 * walk names a kind with equality.
 *
 * What it costs (docs/search.md, "After 017"): ~34 bytes an entry, and its inserts land at
 * random in name order. Built from the table on migration (no rescan): ~1 s at 1,000,000
 * entries.
 */
export function sqliteKindNameOrder(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'sqlite') return;
      await sql`CREATE INDEX entries_kind_name ON entries (media_kind, tenant_id, name)`.execute(
        db,
      );
    },
  };
}
