import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * PostgreSQL: `entries_tenant_name (tenant_id, name COLLATE "C", id)`, the tenant's entries
 * in name order, the order a search sorts by unless told otherwise. A page by name is then
 * walked from it and stops once `limit + 1` rows match (queries/by-name.ts), instead of
 * reading every match of the filters and sorting them: a name needle is tested on the
 * index's own rows (an index-only scan), so a needle of a few percent of the names reads a
 * few thousand index rows and a hundred table rows, not its 20,000 matches spread over as
 * many table pages.
 *
 * What it costs (docs/search.md, "After 011 and 012"): its inserts land at random, like any
 * tenant-wide order's — a first write of 200,000 entries ×2.70–2.78 → ×3.07–3.35 the time
 * without 006 (+14–20 %), and 56 MB at 1,000,000 entries (the table and its other indexes:
 * 571 MB). 006 left it out for that cost on SQLite (×2.6 → ×5.2–5.7); SQLite does not get
 * it here.
 */
export function tenantNameOrder(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE INDEX entries_tenant_name
        ON entries (tenant_id, name COLLATE "C", id)`.execute(db);
    },
  };
}
