import type { Kysely } from 'kysely';
import type { Dialect } from './dialect.js';
import type { EntryRepository } from './entries.js';
import type { Database } from './schema.js';
import type { Bookkeeping } from './bookkeeping.js';
import type { ArrayRows, CopyEntries, CopyValues } from './queries/find-read.js';

/** Something trawl is waiting for while it opens the index: for a line on the user's terminal. */
export interface IndexWait {
  /** The index, as the user named it (a password in a URL shown as `***`). */
  target: string;
  /** `locked`: another process holds the lock (SQLite); `no-answer`: the server has not answered yet. */
  reason: 'locked' | 'no-answer';
}

/** How an index is opened: waits bounded, cancellable, and told about. */
export interface OpenOptions {
  /** Cancels the open: it rejects with an IndexError `CANCELLED`, and nothing is left half-made. */
  signal?: AbortSignal;
  /**
   * Called (at most once) when the open has to wait: the db layer never writes to the
   * terminal itself, the CLI does.
   */
  onWait?: (wait: IndexWait) => void;
  /**
   * SQLite: how long to wait for another process's lock, at open and for every write after.
   * @default 5,000 ms (better-sqlite3's own default)
   */
  busyTimeoutMs?: number;
  /**
   * Run the migrations the index lacks (`true`), or only check that it has them all and
   * refuse it (IndexError `INDEX_NOT_MIGRATED`) when not: a fleet's workers leave migrating
   * to `trawl migrate`, so that no two processes of different versions race to change the
   * schema under each other. @default true
   */
  migrate?: boolean;
  /** Called once the migrations ran, with the names of those that were applied (maybe none). */
  onMigrated?: (applied: string[]) => void;
  /**
   * The caller only reads (`trawl ls`, `scans`, `find`, `du`). A SQLite index this process
   * cannot write (a read-only file, folder or disk) is then opened read-only instead of
   * refused, and never migrated: a schema older than this trawl's is refused
   * `INDEX_NOT_MIGRATED`. A writable index opens as always. @default false
   */
  readOnly?: boolean;
  /**
   * Load the query builder (Kysely) with the connection. `false`: the caller needs only the
   * scan's bookkeeping ({@link Bookkeeping}), which SQLite keeps as plain statements, so
   * Kysely (538 of the 1,394 functions an empty scan ran) loads at the first repository call
   * that needs it, if any; `Index.db` and `Index.queries` are then not there. PostgreSQL
   * loads it regardless. @default true
   */
  queryBuilder?: boolean;
  /**
   * `false`: a new SQLite file is made by SQLite and the schema script, not copied from the
   * index made at build (sqlite/prebuilt.ts; tests compare the two). @default true
   */
  prebuilt?: boolean;
}

/** What each dialect folder provides: the same shape for SQLite and PostgreSQL. */
export interface DialectConnection {
  dialect: Dialect;
  /** The query builder; throws when it was not loaded ({@link OpenOptions.queryBuilder}). */
  readonly db: Kysely<Database>;
  /** The query builder, loaded first if the connection was opened without it. */
  kysely(): Promise<Kysely<Database>>;
  /** The migrations the index records, in no set order; undefined when it records none yet. */
  migrationNames(): Promise<string[] | undefined>;
  /**
   * The scan's bookkeeping without the query builder, where this dialect has it (SQLite);
   * every other repository call loads the query builder.
   */
  bookkeeping?: () => Bookkeeping;
  /** Opened read-only ({@link OpenOptions.readOnly}): every write fails, so none is tried. */
  readOnly?: boolean;
  /**
   * Runs the steps of opening (the migrations) the way this dialect waits for others: SQLite
   * polls for a lock another process holds without blocking the event loop, so a signal or a
   * notice can come through; PostgreSQL waits on the server under its timeouts. Either way
   * bounded, cancelled by {@link OpenOptions.signal}, and announced by `onWait`.
   */
  whileOpening<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Makes the schema of an empty index in one step instead of migration by migration, where
   * this dialect can (SQLite: sqlite/fresh-schema.ts), under the migration lock. Returns the
   * migrations it stands for, or undefined when the index was not empty. Only inside
   * {@link whileOpening}.
   */
  createFresh?: () => string[] | undefined;
  /**
   * Present when this open made the index file as a copy of one made at build (SQLite:
   * sqlite/prebuilt.ts): stamps its migrations' times and returns their names, which the
   * open reports as applied. Only inside {@link whileOpening}.
   */
  placedFresh?: () => string[];
  /**
   * Brings the name index up to date before a search reads it, when this dialect keeps it
   * up in bulk (SQLite, migration 007). Best effort: a search stays exact without it.
   */
  beforeNameSearch?: () => void;
  /** Reads rows as arrays, where the driver can (SQLite): `find`'s reads use it. */
  arrays?: ArrayRows;
  /** Reads one text column through COPY (PostgreSQL): `find -0` uses it. */
  copyValues?: CopyValues;
  /** Reads entries through COPY (PostgreSQL): `find`'s table and JSON lines use it. */
  copyEntries?: CopyEntries;
  /** Builds the entries repository; called once migrations have run. */
  entries(): EntryRepository;
  /** Closes every connection; one that does not close in a moment (a dead socket) is cut. */
  close(): Promise<void>;
}
