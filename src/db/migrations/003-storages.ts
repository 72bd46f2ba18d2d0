import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Storages as managed objects.
 * - `schedule_every_ms` / `schedule_cron`: when a storage is scanned by itself (at most one
 *   of the two is set; stored and shown here, fired by the job layer).
 * - `secrets_sealed`: 1 once the row's secret options are sealed (written by a trawl that
 *   seals). Rows from before this migration hold secrets in plain text: the app seals them
 *   the first time it opens the index with a key, and marks them (see catalog/storages.ts).
 * - names unique per tenant, so a storage can be named on the command line: names that
 *   collide are made unique first by appending `-<id>`.
 */
export function managedStorages(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('storages').addColumn('schedule_every_ms', sql.raw(big)).execute();
      await db.schema.alterTable('storages').addColumn('schedule_cron', 'text').execute();
      await db.schema
        .alterTable('storages')
        .addColumn('secrets_sealed', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`
        UPDATE storages SET name = name || '-' || CAST(id AS text)
        WHERE EXISTS (
          SELECT 1 FROM storages AS older
          WHERE older.tenant_id = storages.tenant_id AND older.name = storages.name
            AND older.id < storages.id
        )`.execute(db);
      await db.schema
        .createIndex('storages_tenant_name')
        .unique()
        .on('storages')
        .columns(['tenant_id', 'name'])
        .execute();
    },
  };
}
