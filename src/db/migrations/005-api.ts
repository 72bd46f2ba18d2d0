import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * The HTTP API.
 * - `api_tokens`: per-tenant bearer tokens, kept as SHA-256 hashes (a token is 256 random
 *   bits, so a plain hash is enough: nothing to brute-force), revocable, with an optional
 *   expiry.
 * - `scans.progress`: the running scan's latest counters (JSON), written about once a second
 *   by whichever process runs it, so any API node can stream them.
 * - `scans.cancel_requested`: a cancel asked through the API; the process running the scan
 *   sees it at its next progress write and stops the scan.
 */
export function api(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const big = pg ? 'bigint' : 'integer';
  const id = pg ? 'bigserial primary key' : 'integer primary key autoincrement';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', sql.raw(id))
        .addColumn('tenant_id', sql.raw(big), (c) =>
          c.notNull().references('tenants.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', sql.raw(big), (c) => c.notNull())
        .addColumn('expires_at', sql.raw(big))
        .addColumn('last_used_at', sql.raw(big))
        .execute();
      await db.schema.alterTable('scans').addColumn('progress', 'text').execute();
      await db.schema
        .alterTable('scans')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('scans_storage')
        .on('scans')
        .columns(['storage_id', 'id'])
        .execute();
    },
  };
}
