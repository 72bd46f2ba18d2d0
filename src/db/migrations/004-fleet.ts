import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Fleet mode: one scan per storage, fenced.
 * - `storages.fence`: bumped at every lease grant; a scan's writes carry the value it was
 *   granted and are refused once it changed (a successor holds the storage).
 * - `scans`: who runs a scan (`worker_id`, `job_id`), its lease's fence, and a heartbeat,
 *   so a scan whose worker died is seen and marked `interrupted`.
 * - `leases`: the lock of embedded mode (processes sharing one index without Redis).
 * - `change_events`: the outbox. Each committed batch's created / updated / deleted entry ids,
 *   written in the batch's own transaction, relayed to a queue and then deleted: a worker
 *   killed between commit and enqueue loses nothing.
 */
export function fleet(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('storages')
        .addColumn('fence', sql.raw(big), (c) => c.notNull().defaultTo(0))
        .execute();
      for (const [name, type] of [
        ['worker_id', 'text'],
        ['job_id', 'text'],
        ['fence', big],
        ['heartbeat_at', big],
      ] as const) {
        await db.schema.alterTable('scans').addColumn(name, sql.raw(type)).execute();
      }
      await db.schema
        .createIndex('scans_status')
        .on('scans')
        .columns(['status', 'storage_id'])
        .execute();
      await db.schema
        .createTable('leases')
        .addColumn('storage_id', sql.raw(big), (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('token', sql.raw(big), (c) => c.notNull())
        .addColumn('expires_at', sql.raw(big), (c) => c.notNull())
        .execute();
      const id =
        dialect === 'postgres' ? 'bigserial primary key' : 'integer primary key autoincrement';
      await db.schema
        .createTable('change_events')
        .addColumn('id', sql.raw(id))
        .addColumn('tenant_id', sql.raw(big), (c) => c.notNull())
        .addColumn('storage_id', sql.raw(big), (c) => c.notNull())
        .addColumn('scan_id', sql.raw(big))
        // JSON arrays of entry ids.
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('updated', 'text', (c) => c.notNull())
        .addColumn('deleted', 'text', (c) => c.notNull())
        .addColumn('created_at', sql.raw(big), (c) => c.notNull())
        .execute();
    },
  };
}
