import type BetterSqlite3 from 'better-sqlite3';
import { SqliteAdapter, SqliteDialect, sql, type Kysely } from 'kysely';

/**
 * Kysely's SQLite adapter takes no lock around migrations (it assumes one process), and
 * without one, two processes opening a fresh index at once both see it empty and the
 * second fails on "table already exists". Here the lock is the database's write lock:
 * `BEGIN IMMEDIATE` fails with SQLITE_BUSY while another process writes, and the open tries
 * the whole run again until it gets it (sqlite/busy.ts); the run is one transaction, so it
 * also lands all or nothing.
 */
class LockingSqliteAdapter extends SqliteAdapter {
  readonly #raw: BetterSqlite3.Database;

  constructor(raw: BetterSqlite3.Database) {
    super();
    this.#raw = raw;
  }

  override async acquireMigrationLock(db: Kysely<unknown>): Promise<void> {
    await sql`BEGIN IMMEDIATE`.execute(db);
  }

  // Each migration runs under a savepoint (migrations/index.ts) that a failure rolls back,
  // so committing here keeps exactly the migrations that succeeded.
  override async releaseMigrationLock(db: Kysely<unknown>): Promise<void> {
    if (this.#raw.inTransaction) await sql`COMMIT`.execute(db);
  }
}

/** SqliteDialect with {@link LockingSqliteAdapter}. */
export class LockingSqliteDialect extends SqliteDialect {
  readonly #raw: BetterSqlite3.Database;

  constructor(raw: BetterSqlite3.Database) {
    super({ database: raw });
    this.#raw = raw;
  }

  override createAdapter(): SqliteAdapter {
    return new LockingSqliteAdapter(this.#raw);
  }
}
