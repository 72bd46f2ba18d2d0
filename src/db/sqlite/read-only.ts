/**
 * Reading an index this process cannot write: `trawl ls` on an index shared read-only, on a
 * read-only mount, or owned by another user.
 *
 * A WAL database is not simply opened read-only: every reader needs the `-shm` file, and a
 * reader that cannot create it (a read-only folder) fails with SQLITE_READONLY_DIRECTORY;
 * one that can leaves a `-shm` and `-wal` of its own behind, owned by it, in someone else's
 * folder. So when no `-wal` file exists — no connection is open on the index, and every
 * committed transaction is in the main file — the index is opened `immutable`: read as a
 * plain file, no lock, nothing created. A `-wal` file means a writer may be at work: then a
 * plain read-only connection (which sees the writer's commits) is the right one, and it
 * works as long as the `-shm` beside it exists, which it does while that writer runs.
 *
 * Measured (better-sqlite3 12.11, SQLite 3.53, as an unprivileged user): a 0444 index in a
 * 0555 folder fails every other way (`readonly`, `fileMustExist`, `mode=ro`); `immutable=1`
 * reads it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteFile } from './driver.js';

// `immutable=1` takes a URI filename, which better-sqlite3 parses only when SQLITE_USE_URI
// is 1 as its native addon loads (once per process, at the first database opened). Set
// here, at import, before any database is opened; a user's own setting is kept. The one
// effect on other names: a path spelt `file:…` is read as a URI, as SQLite documents.
process.env.SQLITE_USE_URI ??= '1';

/**
 * Whether this process cannot write the index at `file` (it exists, and the file or its
 * folder — where the `-wal` and `-shm` go — may not be written). A missing file is not
 * read-only: it is created as always.
 */
export function cannotWrite(file: string): boolean {
  if (file === ':memory:' || file === '' || !existsSync(file)) return false;
  return !writable(file) || !writable(dirname(file));
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Opens the existing index at `file` for reading only, as the header explains. */
export function openReadOnly(file: string): BetterSqlite3.Database {
  if (!existsSync(`${file}-wal`)) {
    try {
      return openSqliteFile(immutableUri(file), { readonly: true, fileMustExist: true });
    } catch {
      // URI filenames are off (another part of the process opened a database first, or the
      // user set SQLITE_USE_URI=0): a plain read-only open may still do, in a folder where
      // the -shm can be made.
    }
  }
  return openSqliteFile(file, { readonly: true, fileMustExist: true, timeout: 0 });
}

/** `file:` URI of a path: `%`, `?` and `#` would otherwise be read as URI syntax. */
function immutableUri(file: string): string {
  const path = resolve(file).replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return `file:${path}?immutable=1`;
}
