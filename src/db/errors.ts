/**
 * Index failures, typed: what went wrong with the index database, as a machine-readable code
 * the CLI, the API and a scan's error sample share, whichever dialect failed. Each dialect's
 * native errors are mapped in one function, {@link classifyIndexError}.
 */
export type IndexErrorCode =
  /** Another process holds the lock trawl needs (SQLite's write lock, a PostgreSQL lock_timeout). */
  | 'INDEX_LOCKED'
  /** No space left for the index (SQLITE_FULL, ENOSPC, PostgreSQL 53100). */
  | 'INDEX_DISK_FULL'
  /** An open connection died under a statement (server restart, network cut). */
  | 'INDEX_CONNECTION_LOST'
  /** No connection could be made (refused, unknown host, connect timeout). */
  | 'INDEX_UNREACHABLE'
  /** A statement got no answer in time (statement_timeout, query_timeout). */
  | 'INDEX_TIMEOUT'
  | 'INDEX_READ_ONLY'
  | 'INDEX_CORRUPT'
  | 'INDEX_AUTH_FAILED'
  | 'INDEX_IO'
  /** The index database is fine, but a setting for it is not (a bad URL parameter). */
  | 'INDEX_CONFIG'
  /** The index needs migrations this process may not run itself (fleet mode): `trawl migrate`. */
  | 'INDEX_NOT_MIGRATED'
  /**
   * A scan's write refused because the storage's fence moved on: its lease was lost and
   * another worker holds the storage now. Not a fault of the database.
   */
  | 'INDEX_FENCED'
  /** Anything not recognised above. */
  | 'INDEX'
  /** The caller's signal aborted the call: not a fault of the index. */
  | 'CANCELLED';

/** The index could not be opened or used: a message for a person, a code for a program. */
export class IndexError extends Error {
  readonly code: IndexErrorCode;

  /** Without a `code`, the cause decides it ({@link classifyIndexError}), else `INDEX`. */
  constructor(message: string, options: { cause?: unknown; code?: IndexErrorCode } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IndexError';
    this.code = options.code ?? classifyIndexError(options.cause) ?? 'INDEX';
  }
}

/** What each code means, in words for the person reading the message. */
const SUMMARY: Record<IndexErrorCode, string> = {
  INDEX_LOCKED: 'the index is locked by another process',
  INDEX_DISK_FULL: 'the disk that holds the index is full',
  INDEX_CONNECTION_LOST: 'the connection to the index database was lost',
  INDEX_UNREACHABLE: 'the index database cannot be reached',
  INDEX_TIMEOUT: 'the index database did not answer in time',
  INDEX_READ_ONLY: 'the index cannot be written',
  INDEX_CORRUPT: 'the index database is damaged',
  INDEX_AUTH_FAILED: 'the index database refused the login',
  INDEX_IO: 'the index database hit an I/O error',
  INDEX_CONFIG: 'a setting of the index database is wrong',
  INDEX_NOT_MIGRATED: "the index database's schema is older than this trawl's",
  INDEX_FENCED:
    "this scan lost its lease: another worker scans the storage now, and this one's writes are refused",
  INDEX: 'the index database failed',
  CANCELLED: 'cancelled',
};

/** What the user can do about each code: printed by the CLI after the failure itself. */
export const INDEX_ADVICE: Record<IndexErrorCode, string> = {
  INDEX_LOCKED:
    'another process is writing to it; run the scan again when that process is done ' +
    '(TRAWL_SQLITE_BUSY_TIMEOUT_MS waits longer for a lock)',
  INDEX_DISK_FULL: 'free some space where the index lives, then run the scan again',
  INDEX_CONNECTION_LOST: 'check the database server, then run the scan again',
  INDEX_UNREACHABLE:
    'check the --db path or URL (or TRAWL_DATABASE_URL), and that the database server is up',
  INDEX_TIMEOUT:
    'the server or the link to it is stalled; run the scan again when it answers ' +
    '(statement_timeout and query_timeout in the URL set how long trawl waits)',
  INDEX_READ_ONLY:
    'trawl needs write access to the index; name another with --db <file> or TRAWL_DATABASE_URL',
  INDEX_CORRUPT:
    'check that --db names the index you meant; a damaged index can be restored from a ' +
    'backup, or rebuilt by scanning into a new one',
  INDEX_AUTH_FAILED: 'check the user and password in the URL',
  INDEX_IO: 'check the disk that holds the index',
  INDEX_CONFIG: 'fix the setting named above',
  INDEX_NOT_MIGRATED:
    'run `trawl migrate` once (with the same --db); in a fleet, workers and API nodes never ' +
    'migrate on their own',
  INDEX_FENCED:
    'nothing to do: the scan that took over completes the index (a worker paused past its ' +
    'lease, or cut off from Redis, ends this way)',
  INDEX: 'set TRAWL_DEBUG=1 for details',
  CANCELLED: '',
};

/** Node's and libuv's errno codes, for failures below the database driver. */
const ERRNO: Record<string, IndexErrorCode> = {
  ENOSPC: 'INDEX_DISK_FULL',
  EDQUOT: 'INDEX_DISK_FULL',
  EROFS: 'INDEX_READ_ONLY',
  EACCES: 'INDEX_READ_ONLY',
  EPERM: 'INDEX_READ_ONLY',
  EIO: 'INDEX_IO',
  // A file where the index's folder should be, or a folder where its file should be.
  ENOTDIR: 'INDEX_UNREACHABLE',
  EISDIR: 'INDEX_UNREACHABLE',
  ECONNRESET: 'INDEX_CONNECTION_LOST',
  EPIPE: 'INDEX_CONNECTION_LOST',
  ECONNREFUSED: 'INDEX_UNREACHABLE',
  ENOTFOUND: 'INDEX_UNREACHABLE',
  EAI_AGAIN: 'INDEX_UNREACHABLE',
  EHOSTUNREACH: 'INDEX_UNREACHABLE',
  ENETUNREACH: 'INDEX_UNREACHABLE',
  ETIMEDOUT: 'INDEX_UNREACHABLE',
};

/** SQLite result codes (better-sqlite3's `code`; extended codes share the primary's prefix). */
function sqlite(code: string): IndexErrorCode | undefined {
  const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0];
  switch (primary) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return 'INDEX_LOCKED';
    case 'SQLITE_FULL':
      return 'INDEX_DISK_FULL';
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
      return 'INDEX_READ_ONLY';
    case 'SQLITE_CANTOPEN':
      return 'INDEX_UNREACHABLE';
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return 'INDEX_CORRUPT';
    case 'SQLITE_IOERR':
      return 'INDEX_IO';
    case 'SQLITE_AUTH':
      return 'INDEX_AUTH_FAILED';
    default:
      return undefined;
  }
}

/** PostgreSQL SQLSTATEs (the `code` of `pg`'s DatabaseError), by exact code, then by class. */
function sqlstate(code: string): IndexErrorCode | undefined {
  switch (code) {
    case '53100': // disk_full
      return 'INDEX_DISK_FULL';
    case '53300': // too_many_connections
    case '57P03': // cannot_connect_now (starting up, shutting down)
    case '3D000': // invalid_catalog_name: the database does not exist
      return 'INDEX_UNREACHABLE';
    case '57014': // query_canceled: statement_timeout
    case '25P03': // idle_in_transaction_session_timeout
      return 'INDEX_TIMEOUT';
    case '55P03': // lock_not_available: lock_timeout
      return 'INDEX_LOCKED';
    case '57P01': // admin_shutdown
    case '57P02': // crash_shutdown
      return 'INDEX_CONNECTION_LOST';
    case '25006': // read_only_sql_transaction (a standby)
    case '42501': // insufficient_privilege: a role that may only read
      return 'INDEX_READ_ONLY';
    case '58030': // io_error
      return 'INDEX_IO';
    case 'XX001': // data_corrupted
    case 'XX002': // index_corrupted
      return 'INDEX_CORRUPT';
  }
  if (code.startsWith('08')) return 'INDEX_CONNECTION_LOST'; // connection_exception
  if (code.startsWith('28')) return 'INDEX_AUTH_FAILED'; // invalid_authorization_specification
  return undefined;
}

/**
 * `pg` reports a dead or silent socket with plain Errors: their messages are its interface
 * (node-postgres 8: client.js, pg-pool).
 */
const PG_MESSAGES: Array<[RegExp, IndexErrorCode]> = [
  [
    /^Connection terminated due to connection timeout|^timeout exceeded when trying to connect/,
    'INDEX_UNREACHABLE',
  ],
  [/^Connection terminated|not queryable|^Client was closed/, 'INDEX_CONNECTION_LOST'],
  [/^Query read timeout/, 'INDEX_TIMEOUT'],
];

/**
 * The index failure behind `error`, from either dialect's driver or the system below it
 * (looking through `cause`), or undefined when it is not recognisably a database fault.
 */
export function classifyIndexError(error: unknown): IndexErrorCode | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e instanceof IndexError) return e.code;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      // A SQLSTATE has five characters with a digit among them; errno names have none.
      const found = code.startsWith('SQLITE_')
        ? sqlite(code)
        : /^(?=.*\d)[0-9A-Z]{5}$/.test(code)
          ? sqlstate(code)
          : ERRNO[code];
      if (found) return found;
    }
    for (const [pattern, mapped] of PG_MESSAGES) if (pattern.test(e.message)) return mapped;
    e = e.cause;
  }
  return undefined;
}

/**
 * `error` as an IndexError: unchanged when it is one, else with the code it classifies as
 * and a message that says what happened before what the driver said.
 */
export function toIndexError(error: unknown): IndexError {
  if (error instanceof IndexError) return error;
  const code = classifyIndexError(error) ?? 'INDEX';
  const native = error instanceof Error ? error.message : String(error);
  const message = code === 'INDEX' ? native : `${SUMMARY[code]} (${native})`;
  return new IndexError(message, { cause: error, code });
}

/** A fenced write: the storage's fence is `current`, the scan holds `held`. */
export function fencedError(
  storageId: number,
  held: number,
  current: number | undefined,
): IndexError {
  return new IndexError(
    `${SUMMARY.INDEX_FENCED} (storage ${storageId}: fence ${held}, now ${current ?? 'gone'})`,
    { code: 'INDEX_FENCED' },
  );
}

/** The error a cancelled index call rejects with. */
export function cancelledIndexError(what = 'index call'): IndexError {
  return new IndexError(`${what} cancelled`, { code: 'CANCELLED' });
}

/** Whether `error` is a cancellation (of this layer or of the storage layer: same code). */
export function isCancellation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'CANCELLED';
}
