import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * PostgreSQL: 012's tenant-wide name order split in two partial indexes, so that each media
 * kind's entries are in name order of their own:
 *
 * - `entries_tenant_kind_name (tenant_id, media_kind, name COLLATE "C", id)` over the
 *   entries with a media kind;
 * - `entries_tenant_plain_name (tenant_id, name COLLATE "C", id)` over the others
 *   (directories, files of no kind);
 *
 * and 012's `entries_tenant_name` dropped. A search by kind, by name (the default order), is
 * walked from the kind's first name and stops after a page: through 012 the walk met
 * `video`'s first name 456,555 names in on the bench tree, gave up after 2,000, and the page
 * was read from the whole tenant and sorted (106–115 ms p95 at 1,000,000 entries on a quiet
 * machine, the one search over the 100 ms target). The tenant's order is now a merge of one
 * walk per kind and one of the rest (queries/by-name.ts), still index-only for a needle.
 *
 * Every entry is in exactly one of the two, as it was in 012's: a first write keeps 012's
 * cost (one index entry per row, landing at random by name), where a third index over the
 * kinds cost +20 % on top of it (docs/search.md, "After 014"). Built from the table on
 * migration, no rescan: ~2 s at 1,000,000 entries. SQLite has neither (nor 012).
 */
export function tenantKindNameOrder(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE INDEX entries_tenant_kind_name
        ON entries (tenant_id, media_kind, name COLLATE "C", id)
        WHERE media_kind IS NOT NULL`.execute(db);
      await sql`CREATE INDEX entries_tenant_plain_name
        ON entries (tenant_id, name COLLATE "C", id)
        WHERE media_kind IS NULL`.execute(db);
      await sql`DROP INDEX entries_tenant_name`.execute(db);
    },
  };
}
