import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { MIGRATION_NAMES } from '../migrations/names.js';

/**
 * The file name of the empty index made at build (scripts/bundle.js: the schema script run
 * on an empty file in WAL mode, checkpointed), below the package root like the listing
 * addon: named after the last migration it stands for, so that a build/ left by another
 * checkout (a newer branch's, whose copy records a migration this code does not know, and
 * could never be opened; or an older one's) is not taken: SQLite and the script make the
 * file then.
 */
export function prebuiltName(names: readonly string[] = MIGRATION_NAMES): string {
  return `build/fresh-index.${names.at(-1)}.db`;
}

/** The prebuilt index of these migrations, looked for above `from` (src/, dist/ or dist/bundle/). */
export function prebuiltIndex(
  from = dirname(fileURLToPath(import.meta.url)),
  names: readonly string[] = MIGRATION_NAMES,
): string | undefined {
  let dir = from;
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    const path = join(dir, prebuiltName(names));
    if (existsSync(path)) return path;
  }
  return undefined;
}

/**
 * Puts a copy of the prebuilt index at `file` when no file is there, and says whether this
 * call did. Why: a new file otherwise pays the switch to WAL (a rollback-journal
 * transaction, 3 syncs), the schema script (60 statements) and the checkpoint of its pages:
 * ~1.1 ms of CPU and more of wall than this copy (docs/benchmarks.md, "a fourth look").
 *
 * The copy is whole before it has the name: written beside it, synced, then linked to
 * `file` (a link fails when another process made the file first: then that one is used, as
 * an index another process created). Anything failing leaves no file: SQLite makes it.
 */
export function placePrebuilt(file: string, from?: string): boolean {
  // The file first: an existing index (every open but the first) looks for nothing more.
  if (existsSync(file)) return false;
  // A SQLite URI (`file:…`, SQLITE_USE_URI: read-only.ts) names another file than this path.
  if (file.startsWith('file:')) return false;
  // A dead index's WAL or journal beside the missing file: SQLite discards it when it makes an
  // empty file, but replays it onto a copy that has pages — the old index's last state
  // would come back, or a corrupt mix. SQLite makes this one.
  if (existsSync(`${file}-wal`) || existsSync(`${file}-journal`)) return false;
  const prebuilt = from ?? prebuiltIndex();
  if (prebuilt === undefined) return false;
  // Random as well as the pid: a process of the same pid in another pid namespace, on a
  // shared volume, must not meet this name (Math.random: node:crypto is not loaded at start).
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.prebuilt`;
  let fd: number | undefined;
  let made = false;
  try {
    const bytes = readFileSync(prebuilt);
    fd = openSync(tmp, 'wx', 0o644); // the mode SQLite gives a file it makes, under the umask
    made = true;
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    linkSync(tmp, file);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
    // Only this call's own file: another of that name is someone else's copy.
    if (made) {
      try {
        unlinkSync(tmp);
      } catch {
        // Gone already.
      }
    }
  }
}

/**
 * The migrations a placed copy stands for, their times set to now (as the schema script
 * records them), under the write lock like the script.
 */
export function stampPrebuilt(raw: BetterSqlite3.Database): string[] {
  raw.exec('BEGIN IMMEDIATE');
  try {
    raw.prepare('UPDATE kysely_migration SET timestamp = ?').run(new Date().toISOString());
    const names = raw
      .prepare('SELECT name FROM kysely_migration ORDER BY name')
      .pluck()
      .all() as string[];
    raw.exec('COMMIT');
    return names;
  } catch (error) {
    if (raw.inTransaction) raw.exec('ROLLBACK');
    throw error;
  }
}
