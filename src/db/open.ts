import { Migrator, sql, type Kysely } from 'kysely';
import type { DialectConnection, OpenOptions } from './connection.js';
import { checkIndexTarget, dialectOf, redactDbUrl, type Dialect } from './dialect.js';
import type { EntryRepository } from './entries.js';
import { IndexError, isCancellation } from './errors.js';
import { MIGRATION_NAMES, migrations } from './migrations/index.js';
import { createQueries } from './queries/index.js';
import type { Queries } from './queries/types.js';
import { ScanRepository } from './repositories/scans.js';
import { StorageRepository } from './repositories/storages.js';
import { TenantRepository } from './repositories/tenants.js';
import { TokenRepository } from './repositories/tokens.js';
import type { Database } from './schema.js';

export type { IndexWait, OpenOptions } from './connection.js';
export { redactDbUrl };

/** The index: every repository over one database connection. */
export interface Index {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  /**
   * Opened read-only (an index the process cannot write, opened for a command that only
   * reads): nothing may be written through it, not even at open.
   */
  readonly readOnly: boolean;
  readonly entries: EntryRepository;
  readonly scans: ScanRepository;
  readonly storages: StorageRepository;
  readonly tenants: TenantRepository;
  /** Browse, search and stats (src/db/queries/): read-only, tenant-scoped. */
  readonly queries: Queries;
  /** The HTTP API's bearer tokens. */
  readonly tokens: TokenRepository;
  close(): Promise<void>;
}

async function connect(target: string, options: OpenOptions): Promise<DialectConnection> {
  checkIndexTarget(target);
  if (dialectOf(target) === 'postgres') {
    const { connectPostgres } = await import('./postgres/connect.js');
    return connectPostgres(target, options);
  }
  // Loaded only for SQLite, as PostgreSQL's is for PostgreSQL: a command on a PostgreSQL
  // index does not load better-sqlite3's native module (12-17 ms of its start).
  const { connectSqlite } = await import('./sqlite/connect.js');
  return connectSqlite(target, options);
}

/**
 * Opens the index at `target` (a SQLite file or a postgres:// URL) and migrates it. Every
 * wait is bounded (the busy timeout, the connect and statement timeouts), announced through
 * `onWait`, and cancelled by `signal`: then it rejects with an IndexError `CANCELLED`, and
 * the migrations, one transaction, either ran whole or not at all.
 */
export async function openIndex(target: string, options: OpenOptions = {}): Promise<Index> {
  const conn = await connect(target, options);
  try {
    await conn.whileOpening(async () => {
      if (options.migrate === false || conn.readOnly) return checkMigrated(conn, target);
      // Not inside `onMigrated?.(…)`: an optional call skips evaluating its argument.
      const applied = await migrate(conn);
      options.onMigrated?.(applied);
    });
  } catch (error) {
    await conn.close().catch(() => undefined);
    if (error instanceof IndexError) throw error;
    const message = (error as Error).message;
    throw new IndexError(`cannot use index database ${redactDbUrl(target)}: ${message}`, {
      cause: error,
      ...(isCancellation(error) ? { code: 'CANCELLED' as const } : {}),
    });
  }
  const { db } = conn;
  return {
    dialect: conn.dialect,
    db,
    readOnly: conn.readOnly === true,
    entries: conn.entries(),
    scans: new ScanRepository(db, conn.dialect),
    storages: new StorageRepository(db, conn.dialect),
    tenants: new TenantRepository(db),
    queries: createQueries(db, conn.dialect, {
      ...(conn.beforeNameSearch ? { beforeNameSearch: conn.beforeNameSearch } : {}),
      ...(conn.arrays ? { arrays: conn.arrays } : {}),
      ...(conn.copyValues ? { copyValues: conn.copyValues } : {}),
      ...(conn.copyEntries ? { copyEntries: conn.copyEntries } : {}),
    }),
    tokens: new TokenRepository(db),
    close: () => conn.close(),
  };
}

/**
 * Runs the migrations the index at `target` lacks and closes it (`trawl migrate`): the names
 * of those it ran, in order (none when it was current). Waits and failures as {@link openIndex}.
 */
export async function migrateIndex(
  target: string,
  options: Omit<OpenOptions, 'migrate'> = {},
): Promise<string[]> {
  let applied: string[] = [];
  const index = await openIndex(target, {
    ...options,
    migrate: true,
    onMigrated: (names) => (applied = names),
  });
  await index.close();
  return applied;
}

/**
 * Whether the index records exactly this trawl's migrations: one read of Kysely's migration
 * table. The usual open (an index already current) then skips the migrator, which took the
 * write lock (SQLite's `BEGIN IMMEDIATE`) and read the table twice to conclude the same.
 * Anything else (a fresh index, one behind, one ahead) goes to the migrator as before.
 */
async function isCurrent(conn: DialectConnection): Promise<boolean> {
  let names: string[];
  try {
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(
      conn.db,
    );
    names = rows.map((r) => r.name);
  } catch (error) {
    // No migration table yet (a fresh index): the migrator makes it. Anything else (a lock,
    // a lost connection, a cancel) is the open's failure, not a reason to try again.
    const e = error as { code?: unknown; message?: unknown };
    if (e.code === '42P01' || /no such table/.test(String(e.message))) return false;
    throw error;
  }
  const known = new Set(MIGRATION_NAMES);
  return names.length === known.size && names.every((name) => known.has(name));
}

/**
 * Runs the migrations the index lacks; returns their names. An empty index is made in one
 * step where the dialect can ({@link DialectConnection.createFresh}); the migrator then runs
 * only what that step does not stand for (a migration newer than the schema script).
 */
async function migrate(conn: DialectConnection): Promise<string[]> {
  if (await isCurrent(conn)) return [];
  const made = conn.createFresh?.() ?? [];
  if (made.length === MIGRATION_NAMES.length && made.every((n, i) => n === MIGRATION_NAMES[i])) {
    return made;
  }
  const migrator = new Migrator({ db: conn.db, provider: migrations(conn.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw failed
      ? new IndexError(`migration ${failed} failed: ${(error as Error).message}`, { cause: error })
      : error;
  }
  const ran = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  return [...made, ...ran];
}

/** Refuses an index that lacks migrations, naming them and what to do. */
async function checkMigrated(conn: DialectConnection, target: string): Promise<void> {
  if (await isCurrent(conn)) return;
  const migrator = new Migrator({ db: conn.db, provider: migrations(conn.dialect) });
  const pending = (await migrator.getMigrations()).filter((m) => !m.executedAt).map((m) => m.name);
  if (pending.length === 0) return;
  throw new IndexError(
    `the index database ${redactDbUrl(target)} lacks ${pending.length} migration(s) of this trawl (${pending.join(', ')})`,
    { code: 'INDEX_NOT_MIGRATED' },
  );
}
