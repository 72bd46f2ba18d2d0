import type { Kysely } from 'kysely';
import type { Bookkeeping, LeaseRows } from './bookkeeping.js';
import type { DialectConnection, OpenOptions } from './connection.js';
import { checkIndexTarget, dialectOf, redactDbUrl, type Dialect } from './dialect.js';
import type { EntryRepository } from './entries.js';
import { IndexError, isCancellation } from './errors.js';
import { MIGRATION_NAMES } from './migrations/names.js';
import type { Queries } from './queries/types.js';
import type { ScanRepository } from './repositories/scans.js';
import type { StorageRepository } from './repositories/storages.js';
import type { TenantRepository } from './repositories/tenants.js';
import type { TokenRepository } from './repositories/tokens.js';
import type { Database } from './schema.js';

export type { IndexWait, OpenOptions } from './connection.js';
export { redactDbUrl };

/** A repository's methods (its class's type also holds its private fields). */
export type Methods<T> = { [K in keyof T]: T[K] };

/** The index: every repository over one database connection. */
export interface Index {
  readonly dialect: Dialect;
  /**
   * The query builder. Not there (it throws) on an index opened with `queryBuilder: false`
   * (OpenOptions): every repository still is.
   */
  readonly db: Kysely<Database>;
  /**
   * Opened read-only (an index the process cannot write, opened for a command that only
   * reads): nothing may be written through it, not even at open.
   */
  readonly readOnly: boolean;
  readonly entries: EntryRepository;
  readonly scans: Methods<ScanRepository>;
  readonly storages: Methods<StorageRepository>;
  readonly tenants: Methods<TenantRepository>;
  /** The embedded mode's leases (jobs/db-lease.ts). */
  readonly leases: LeaseRows;
  /**
   * Browse, search and stats (src/db/queries/): read-only, tenant-scoped. Not there (it
   * throws) on an index opened with `queryBuilder: false`.
   */
  readonly queries: Queries;
  /** The HTTP API's bearer tokens. */
  readonly tokens: Methods<TokenRepository>;
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
  const bookkeeping = options.queryBuilder === false ? conn.bookkeeping?.() : undefined;
  if (bookkeeping) return onDemandIndex(conn, bookkeeping);
  const db = await conn.kysely();
  const [repositories, { createQueries }] = await Promise.all([
    import('./repositories/index.js'),
    import('./queries/index.js'),
  ]);
  return {
    dialect: conn.dialect,
    db,
    readOnly: conn.readOnly === true,
    entries: conn.entries(),
    scans: new repositories.ScanRepository(db, conn.dialect),
    storages: new repositories.StorageRepository(db, conn.dialect),
    tenants: new repositories.TenantRepository(db),
    leases: new repositories.LeaseRepository(db),
    queries: createQueries(db, conn.dialect, {
      ...(conn.beforeNameSearch ? { beforeNameSearch: conn.beforeNameSearch } : {}),
      ...(conn.arrays ? { arrays: conn.arrays } : {}),
      ...(conn.copyValues ? { copyValues: conn.copyValues } : {}),
      ...(conn.copyEntries ? { copyEntries: conn.copyEntries } : {}),
    }),
    tokens: new repositories.TokenRepository(db),
    close: () => conn.close(),
  };
}

/**
 * The index of a caller that said it needs no query builder (`queryBuilder: false`): the
 * scan's bookkeeping runs as the dialect's plain statements, and any other repository call
 * loads Kysely and the repositories at its first use (each is asynchronous), then goes to
 * them. `db` and `queries` are not there: they are not asynchronous.
 */
function onDemandIndex(conn: DialectConnection, own: Bookkeeping): Index {
  let loading: Promise<typeof import('./repositories/index.js')> | undefined;
  const repositories = () => (loading ??= import('./repositories/index.js'));
  const scans = once(
    async () => new (await repositories()).ScanRepository(await conn.kysely(), conn.dialect),
  );
  const storages = once(
    async () => new (await repositories()).StorageRepository(await conn.kysely(), conn.dialect),
  );
  const tenants = once(
    async () => new (await repositories()).TenantRepository(await conn.kysely()),
  );
  const tokens = once(async () => new (await repositories()).TokenRepository(await conn.kysely()));
  const missing = (what: string) => () => {
    throw new Error(`bug: ${what} of an index opened without its query builder`);
  };
  return {
    dialect: conn.dialect,
    get db(): Kysely<Database> {
      return missing('the query builder')();
    },
    readOnly: conn.readOnly === true,
    entries: conn.entries(),
    scans: onDemand(scans, own.scans),
    storages: onDemand(storages, {
      ...own.storages,
      // Inside a transaction of the repository's: the repository's.
      names: (tenantId, db) =>
        db ? storages().then((r) => r.names(tenantId, db)) : own.storages.names(tenantId),
      storedOptions: (db, unsealedOnly) =>
        db
          ? storages().then((r) => r.storedOptions(db, unsealedOnly))
          : own.storages.storedOptions(unsealedOnly ?? false),
    }),
    tenants: onDemand(tenants, own.tenants),
    leases: own.leases,
    get queries(): Queries {
      return missing('the queries')();
    },
    tokens: onDemand(tokens, {}),
    close: () => conn.close(),
  };
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/**
 * `own`'s methods, and for every other one of T's (all asynchronous) a method that gets
 * the full object first and calls it there.
 */
function onDemand<T extends object>(full: () => Promise<T>, own: Partial<Methods<T>>): Methods<T> {
  return new Proxy(own, {
    get(target, key) {
      if (key in target) return (target as Record<PropertyKey, unknown>)[key];
      if (typeof key !== 'string' || key === 'then') return undefined;
      return async (...args: unknown[]) => {
        const object = (await full()) as Record<string, (...a: unknown[]) => unknown>;
        return object[key]!(...args);
      };
    },
  }) as Methods<T>;
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
  // No migration table yet (a fresh index): the migrator makes it. Anything else (a lock,
  // a lost connection, a cancel) is the open's failure, not a reason to try again.
  const names = await conn.migrationNames();
  if (names === undefined) return false;
  const known = new Set(MIGRATION_NAMES);
  return names.length === known.size && names.every((name) => known.has(name));
}

/**
 * Runs the migrations the index lacks; returns their names. An empty index is made in one
 * step where the dialect can ({@link DialectConnection.createFresh}); the migrator then runs
 * only what that step does not stand for (a migration newer than the schema script).
 */
/** Whether `names` are this trawl's migrations, in order. */
function sameNames(names: readonly string[]): boolean {
  return names.length === MIGRATION_NAMES.length && names.every((n, i) => n === MIGRATION_NAMES[i]);
}

async function migrate(conn: DialectConnection): Promise<string[]> {
  // A copy of the index made at build: current unless that build is older than this code
  // (a stale build/): then the migrator runs the migrations it lacks, as on an older index.
  const placed = conn.placedFresh?.();
  if (placed && sameNames(placed)) return placed;
  if (await isCurrent(conn)) return [];
  const made = conn.createFresh?.() ?? [];
  if (sameNames(made)) {
    return made;
  }
  const migrator = await migratorOf(conn);
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
  const migrator = await migratorOf(conn);
  const pending = (await migrator.getMigrations()).filter((m) => !m.executedAt).map((m) => m.name);
  if (pending.length === 0) return;
  throw new IndexError(
    `the index database ${redactDbUrl(target)} lacks ${pending.length} migration(s) of this trawl (${pending.join(', ')})`,
    { code: 'INDEX_NOT_MIGRATED' },
  );
}

/** Kysely's migrator over every migration: loaded only when an index is behind or new. */
async function migratorOf(conn: DialectConnection) {
  const [{ Migrator }, { migrations }, db] = await Promise.all([
    import('kysely'),
    import('./migrations/index.js'),
    conn.kysely(),
  ]);
  return new Migrator({ db, provider: migrations(conn.dialect) });
}
