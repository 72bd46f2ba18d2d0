import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * tenants, storages, entries, scans. The entries path is the hot column: unique per
 * (storage, tenant, path) as the last line of defence against duplicates, and sorting
 * bytewise (SQLite's BINARY, PostgreSQL's "C") so that a subtree is one index range.
 */
export function initial(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const id = pg ? 'bigserial primary key' : 'integer primary key autoincrement';
  const big = pg ? 'bigint' : 'integer';
  const pathType = pg ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', sql.raw(id))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', sql.raw(big), (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('storages')
        .addColumn('id', sql.raw(id))
        .addColumn('tenant_id', sql.raw(big), (c) =>
          c.notNull().references('tenants.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('location', 'text', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('max_concurrency', 'integer')
        .addColumn('created_at', sql.raw(big), (c) => c.notNull())
        .addColumn('updated_at', sql.raw(big), (c) => c.notNull())
        .addUniqueConstraint('storages_tenant_kind_location', ['tenant_id', 'kind', 'location'])
        .execute();
      await db.schema
        .createTable('entries')
        .addColumn('id', sql.raw(id))
        .addColumn('tenant_id', sql.raw(big), (c) => c.notNull())
        // No foreign key to storages here: its check is a trigger call per inserted row on
        // PostgreSQL (a quarter of a bulk insert's time, measured); removing a storage
        // removes its entries explicitly.
        .addColumn('storage_id', sql.raw(big), (c) => c.notNull())
        .addColumn('path', pathType, (c) => c.notNull())
        .addColumn('parent', pathType, (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('is_dir', 'smallint', (c) => c.notNull())
        .addColumn('size', sql.raw(big), (c) => c.notNull())
        .addColumn('mtime', sql.raw(big), (c) => c.notNull())
        .addColumn('etag', 'text')
        .addColumn('media_kind', 'text')
        .addUniqueConstraint('entries_storage_tenant_path', ['storage_id', 'tenant_id', 'path'])
        // Room left in each page lets PostgreSQL update a changed size or mtime in place
        // (a HOT update: no new index entries), which is most of what a rescan writes.
        .$call((t) => (pg ? t.modifyEnd(sql`with (fillfactor = 90)`) : t))
        .execute();
      await db.schema
        .createIndex('entries_storage_parent')
        .on('entries')
        .columns(['storage_id', 'parent'])
        .execute();
      await db.schema
        .createTable('scans')
        .addColumn('id', sql.raw(id))
        .addColumn('tenant_id', sql.raw(big), (c) => c.notNull())
        .addColumn('storage_id', sql.raw(big), (c) =>
          c.notNull().references('storages.id').onDelete('cascade'),
        )
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', sql.raw(big), (c) => c.notNull())
        .addColumn('finished_at', sql.raw(big))
        .addColumn('dirs', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('files', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('media_files', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('bytes', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('created', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('updated', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('deleted', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('unchanged', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('skipped', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('errors', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('error_sample', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('retries', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('rate_limit_waits', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('duration_ms', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .addColumn('options', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
      await db.schema
        .createIndex('scans_storage_started')
        .on('scans')
        .columns(['storage_id', 'started_at'])
        .execute();
    },
  };
}
