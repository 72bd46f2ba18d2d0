import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteFile } from './driver.js';
import type { CompiledQuery, Kysely } from 'kysely';
import { IndexError } from '../errors.js';
import type { Database } from '../schema.js';
import { DEFAULT_BUSY_TIMEOUT_MS, untilUnlocked, type LockWait } from './busy.js';
import { SqliteEntryRepository } from './entries.js';
import { createFromScript } from './fresh-schema.js';
import { placePrebuilt, stampPrebuilt } from './prebuilt.js';
import { SqliteBookkeeping } from './bookkeeping.js';
import { NameIndexBacklog, registerNameTest } from './name-index.js';
import { cannotWrite, openReadOnly } from './read-only.js';
import type { DialectConnection, OpenOptions } from '../connection.js';
import { makeDirs } from '../../util/make-dirs.js';

/**
 * WAL is a property of the file, so only the first open switches it. Reading the journal
 * mode needs a shared lock and switching it the file to itself for a moment: another process
 * writing (or opening a fresh index at the same instant) answers BUSY, and the caller waits.
 */
function useWal(raw: BetterSqlite3.Database): void {
  if (raw.pragma('journal_mode', { simple: true }) !== 'wal') raw.pragma('journal_mode = WAL');
}

/**
 * Opens (creating if needed) a SQLite index file. WAL with synchronous=NORMAL: a crash
 * loses at most the last transactions, never consistency, and readers do not block the
 * scan's writer.
 *
 * Locks: while opening, every wait for another process's lock is a timer (the connection's
 * busy timeout is 0 meanwhile), announced once through `onWait` and ended by the signal;
 * after, the connection's busy timeout is `busyTimeoutMs` for every statement (SQLite waits
 * inside the call: the longest a write can block the process).
 */
export async function connectSqlite(
  file: string,
  options: OpenOptions = {},
): Promise<DialectConnection> {
  const timeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  let announced = false;
  const wait: LockWait = {
    deadline: Date.now() + timeoutMs,
    signal: options.signal,
    onLocked: () => {
      if (!announced) options.onWait?.({ target: file, reason: 'locked' });
      announced = true;
    },
    file,
    timeoutMs,
  };
  // A command that only reads still works on an index it may not write (read-only.ts).
  const readOnly = options.readOnly === true && cannotWrite(file);
  let raw: BetterSqlite3.Database;
  // A new file starts as a copy of the empty index made at build (prebuilt.ts).
  let placed = false;
  try {
    if (readOnly) raw = openReadOnly(file);
    else {
      if (file !== ':memory:') {
        makeDirs(dirname(file));
        // Not for a process that must not migrate (a fleet's): a copy is a schema made.
        placed = options.prebuilt !== false && options.migrate !== false && placePrebuilt(file);
      }
      raw = openSqliteFile(file, { timeout: 0 });
    }
  } catch (error) {
    throw new IndexError(`cannot open index database ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    if (!readOnly) {
      // Before the switch to WAL: on a new file that switch is the one transaction this index
      // ever runs under a rollback journal (SQLite writes page 1 so, whatever the mode), and
      // NORMAL syncs it 3 times instead of FULL's 4 (the journal once, not twice; strace). At
      // that moment the file holds nothing to lose; an existing index is WAL already.
      // In the wait for locks too: the pragma reads the schema, which another process
      // making the file holds locked.
      await untilUnlocked(() => {
        raw.pragma('synchronous = NORMAL');
        useWal(raw);
      }, wait);
    }
    raw.pragma('foreign_keys = ON');
    // 8 MB of page cache: a 1,000,000-entry rescan is as fast as with 64 MB (it reads the
    // children of one directory at a time, in index order) and peaks ~70 MB lower in RSS;
    // 8 MB here and 4 MB in the writer thread instead of 16 and 8 took a first scan's peak
    // ~9 MB lower at the same CPU, first scan and rescan (docs/benchmarks.md).
    raw.pragma('cache_size = -8192');
  } catch (error) {
    raw.close();
    if (error instanceof IndexError) throw error;
    throw new IndexError(`cannot open index database ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  registerNameTest(raw);
  // Rows as arrays, or one column's values: no object per row (queries/find-read.ts).
  const statement = (q: CompiledQuery, single: boolean) => {
    const s = raw.prepare(q.sql);
    return single ? s.pluck() : s.raw();
  };
  // A walk by path runs one statement per page of 1,000 rows, the same text from its second
  // page on: prepared once (276 prepares were 2 % of a 276,300-line find's CPU). A statement
  // still being stepped (`iterate`) is busy: another is prepared for the call.
  const prepared = new Map<string, ReturnType<typeof statement>>();
  const reusable = (q: CompiledQuery, single: boolean) => {
    const key = `${single ? 'p' : 'r'}${q.sql}`;
    const kept = prepared.get(key);
    if (kept && !kept.busy) return kept;
    const s = statement(q, single);
    if (prepared.size >= 16) prepared.clear();
    prepared.set(key, s);
    return s;
  };
  // Kysely loads with the connection unless the caller said it needs none (a local scan's
  // bookkeeping is plain statements: sqlite/bookkeeping.ts); then at its first use.
  let db: Kysely<Database> | undefined;
  let builder: (() => Kysely<Database>) | undefined;
  const loadBuilder = async () => {
    if (builder) return;
    const [{ Kysely }, { LockingSqliteDialect }] = await Promise.all([
      import('kysely'),
      import('./migration-lock.js'),
    ]);
    builder = () => new Kysely<Database>({ dialect: new LockingSqliteDialect(raw) });
  };
  if (options.queryBuilder !== false) await loadBuilder();
  const made = () => {
    if (!builder) throw new Error('bug: the index was opened without its query builder');
    return (db ??= builder());
  };
  let bookkeeping: SqliteBookkeeping | undefined;
  // Its statements need migration 007's table: made once the migrations ran.
  let names: NameIndexBacklog | undefined;
  const nameIndex = () => (names ??= new NameIndexBacklog(raw));
  let entries: SqliteEntryRepository | undefined;
  /**
   * Best effort, and never waiting for another process's lock (a search or a close must not
   * stall behind a scan's batch): a backlog left is still searched exactly, row by row.
   */
  const catchUp = () => {
    if (readOnly) return;
    raw.pragma('busy_timeout = 0');
    try {
      nameIndex().catchUp();
    } catch {
      // Locked, or the disk is full: the next catch-up takes the rows.
    } finally {
      raw.pragma(`busy_timeout = ${timeoutMs}`);
    }
  };
  return {
    dialect: 'sqlite',
    get db() {
      return made();
    },
    kysely: async () => (await loadBuilder(), made()),
    migrationNames: () => {
      try {
        return Promise.resolve(
          raw.prepare('SELECT name FROM kysely_migration').pluck().all() as string[],
        );
      } catch (error) {
        // No migration table yet: a fresh index.
        if (/no such table/.test(String((error as Error).message)))
          return Promise.resolve(undefined);
        return Promise.reject(error as Error);
      }
    },
    bookkeeping: () => (bookkeeping ??= new SqliteBookkeeping(raw, () => entries?.writerThread)),
    readOnly,
    async whileOpening(work) {
      try {
        return await untilUnlocked(work, wait);
      } finally {
        raw.pragma(`busy_timeout = ${timeoutMs}`);
      }
    },
    createFresh: () => createFromScript(raw),
    ...(placed ? { placedFresh: () => stampPrebuilt(raw) } : {}),
    // Prepared statements need the tables: built after migrations. A writer thread needs a
    // file another connection can open, and an index this process may write.
    entries: () =>
      (entries = new SqliteEntryRepository(
        raw,
        nameIndex(),
        file === ':memory:' || readOnly ? undefined : { file, busyTimeoutMs: timeoutMs },
      )),
    beforeNameSearch: catchUp,
    arrays: {
      all: (q, single) => reusable(q, single).all(...q.parameters),
      iterate: (q, single) => statement(q, single).iterate(...q.parameters),
    },
    close: async () => {
      // The writer thread's batches first: they are the scan's, and its lock is let go.
      await entries?.close();
      // A finished scan leaves a complete name index behind it.
      if (names) catchUp();
      if (db) await db.destroy();
      else raw.close();
    },
  };
}
