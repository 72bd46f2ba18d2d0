import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * PostgreSQL: `entries` is unique on (storage_id, path), no longer on (storage_id,
 * tenant_id, path). A storage id is unique across tenants and a storage belongs to one
 * tenant, so the key is the same one (a row of another tenant at the same storage and path
 * was never possible without breaking isolation; it is now refused outright), and every
 * statement that named all three still finds its rows by (storage_id, path), the tenant
 * tested on the row. The tenant id was 8 of each entry's bytes in that index, 16 once a
 * first scan's inserts leave its pages half full (docs/index-database.md): 148 → 132 bytes
 * an entry on the bench:schema tree. The index is built anew from the table (no rescan)
 * before the old constraint goes, in the migration's transaction.
 *
 * `entries_storage_parent_name` is rebuilt too, while the table is locked anyway: a first
 * scan leaves both text B-trees with their leaf pages half full (it inserts ascending runs
 * into the middle of the key space, and PostgreSQL splits such a page 50/50), a build from
 * the table packs them to 90 % — about half their bytes, once (docs/index-database.md).
 *
 * SQLite keeps (storage_id, tenant_id, path): changing a table constraint there is a copy
 * of the whole table, and its queries lean on that index's exact columns (queries/plan.ts).
 */
export function pathKey(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE UNIQUE INDEX entries_storage_path ON entries (storage_id, path)`.execute(db);
      await sql`ALTER TABLE entries DROP CONSTRAINT entries_storage_tenant_path`.execute(db);
      await sql`ALTER TABLE entries ADD CONSTRAINT entries_storage_path
        UNIQUE USING INDEX entries_storage_path`.execute(db);
      await sql`REINDEX INDEX entries_storage_parent_name`.execute(db);
    },
  };
}
