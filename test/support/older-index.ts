import { Migrator, sql } from 'kysely';
import type { DialectConnection } from '../../src/db/connection.js';
import { migrations } from '../../src/db/migrations/index.js';
import { connectPostgres } from '../../src/db/postgres/connect.js';
import { connectSqlite } from '../../src/db/sqlite/connect.js';
import { baseName, parentOf } from '../../src/storage/paths.js';

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

/**
 * A PostgreSQL index as the trawl that ended with `last` left it, with `dirs` and `files` in
 * storage 1 of tenant 1 (and their `parent` stored, before 018).
 */
export async function postgresIndexAt(
  url: string,
  last: string,
  dirs: readonly string[],
  files: readonly string[],
): Promise<void> {
  const conn = connectPostgres(url, {});
  try {
    await migrateTo(conn, last);
    await seedStorage(conn.db);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n
      FROM information_schema.columns
      WHERE table_name = 'entries' AND table_schema = current_schema() AND column_name = 'parent'`.execute(
      conn.db,
    );
    const stored = rows[0]!.n > 0;
    for (const path of [...dirs, ...files]) {
      const isDir = dirs.includes(path) ? 1 : 0;
      const size = isDir ? 0 : 10;
      await (
        stored
          ? sql`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
            VALUES (1, 1, ${path}, ${parentOf(path)}, ${baseName(path)}, ${isDir}, ${size}, 1)`
          : sql`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
            VALUES (1, 1, ${path}, ${baseName(path)}, ${isDir}, ${size}, 1)`
      ).execute(conn.db);
    }
  } finally {
    await conn.close();
  }
}

/**
 * A SQLite index as the trawl that ended with `last` (007 or later: `parent` computed, `name`
 * stored) left it, with `dirs` and `files` in storage 1 of tenant 1, in that order.
 */
export async function sqliteIndexAt(
  file: string,
  last: string,
  dirs: readonly string[],
  files: readonly string[],
): Promise<void> {
  const conn = await connectSqlite(file, { prebuilt: false });
  try {
    await migrateTo(conn, last);
    await seedStorage(conn.db);
    for (const path of [...dirs, ...files]) {
      const isDir = dirs.includes(path) ? 1 : 0;
      await sql`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
        VALUES (1, 1, ${path}, ${baseName(path)}, ${isDir}, ${isDir ? 0 : 10}, 1)`.execute(conn.db);
    }
  } finally {
    await conn.close();
  }
}
