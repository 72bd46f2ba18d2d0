import { Migrator, sql } from 'kysely';
import type { DialectConnection } from '../../src/db/connection.js';
import { migrations } from '../../src/db/migrations/index.js';

/**
 * Runs the migrations up to `last` (its name) on a connection being opened: an index as the
 * trawl that ended with `last` left it, for the tests that carry such an index forward.
 */
export async function migrateTo(conn: DialectConnection, last: string): Promise<void> {
  await conn.whileOpening(async () => {
    const migrator = new Migrator({ db: conn.db, provider: migrations(conn.dialect) });
    const { error } = await migrator.migrateTo(last);
    if (error) throw error;
  });
}

/** Tenant 1 (`default`) and its memory storage 1 (`s`), written as raw rows. */
export async function seedStorage(db: DialectConnection['db']): Promise<void> {
  await sql`INSERT INTO tenants (name, created_at) VALUES ('default', 0)`.execute(db);
  await sql`INSERT INTO storages (tenant_id, name, kind, location, options, version, enabled, created_at, updated_at)
    VALUES (1, 's', 'memory', 'memory://s', '{"volume":"s"}', 1, 1, 0, 0)`.execute(db);
}
