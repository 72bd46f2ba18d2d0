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

/**
 * An empty index made at build (scripts/bundle.js): the schema script run on an empty file
 * in WAL mode, checkpointed. Below the package root, like the listing addon.
 */
export const PREBUILT_INDEX = 'build/fresh-index.db';

/** The prebuilt index, looked for above this module (src/, dist/ or dist/bundle/). */
export function prebuiltIndex(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    const path = join(dir, PREBUILT_INDEX);
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
  const prebuilt = from ?? prebuiltIndex();
  if (prebuilt === undefined) return false;
  const tmp = `${file}.${process.pid}.prebuilt`;
  let fd: number | undefined;
  try {
    const bytes = readFileSync(prebuilt);
    fd = openSync(tmp, 'wx', 0o644); // the mode SQLite gives a file it makes, under the umask
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
    try {
      unlinkSync(tmp);
    } catch {
      // Never made.
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
