/**
 * A SQLite index failing under `trawl scan`: locked by another process (fresh, or mid-scan)
 * and full. In a real trawl process against real files, because what is at stake is how
 * that process waits, what it prints and how it ends.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';
import { expectTrueToTree } from './support/paced-tree.js';
import { jsonResult, startTrawl, until } from './support/trawl-process.js';

const DIRS = 600;
const FILES = 20;
const PACED = { PACED_DIRS: String(DIRS), PACED_FILES: String(FILES), PACED_LATENCY_MS: '20' };
const SCAN = ['scan', 'memory://paced', '--json', '--batch', '300', '--workers', '4'];

type Row = [string, boolean, number, number];

/** Reads the index the way another process would (WAL readers never wait for the writer). */
function read<T>(file: string, query: (db: Database.Database) => T, fallback: T): T {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return query(db);
  } catch {
    return fallback; // not created or not migrated yet
  } finally {
    db?.close();
  }
}

/** Byte 18 of a SQLite file's header: 2 once the file is in WAL mode (a lasting state). */
function inWalMode(file: string): boolean {
  try {
    const fd = openSync(file, 'r');
    try {
      const header = Buffer.alloc(19);
      return readSync(fd, header, 0, 19, 0) === 19 && header[18] === 2;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/**
 * Polled while trawl runs: not before the file is in WAL mode, as a reader of a file trawl is
 * still creating holds the shared lock its switch to WAL waits for (and trawl would announce
 * a wait the test made).
 */
const entryCount = (file: string) =>
  !inWalMode(file)
    ? 0
    : read(file, (db) => db.prepare('SELECT count(*) FROM entries').pluck().get() as number, 0);

const entryRows = (file: string): Row[] =>
  read(
    file,
    (db) =>
      (
        db.prepare('SELECT path, is_dir, size, mtime FROM entries ORDER BY path').raw().all() as [
          string,
          number,
          number,
          number,
        ][]
      ).map(([p, d, s, m]) => [p, d === 1, s, m] as Row),
    [],
  );

const scanRow = (file: string, id: number) =>
  read(
    file,
    (db) =>
      db.prepare('SELECT status, finished_at FROM scans WHERE id = ?').get(id) as
        { status: string; finished_at: number | null } | undefined,
    undefined,
  );

/** Holds the index's write lock from this process, as another writer would. */
function holdWriteLock(file: string): () => void {
  const db = new Database(file, { timeout: 10_000 });
  db.exec('BEGIN IMMEDIATE');
  return () => {
    db.exec('ROLLBACK');
    db.close();
  };
}

describe('a scan whose SQLite index fails', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let release: (() => void) | undefined;
  afterEach(() => {
    release?.();
    release = undefined;
    dir?.cleanup();
  });

  // 600 rows: batches written on the main thread; 6,000: by the writer thread, which takes
  // over after 4,000 (src/db/sqlite/entries.ts).
  it.each([600, 6000])(
    'ends failed within its busy timeout when another process takes the index mid-scan (%i rows in)',
    async (rows) => {
      dir = tempDir('trawl-locked-');
      const file = join(dir.path, 'index.db');
      const trawl = startTrawl([...SCAN, '--db', file], PACED);
      await until(() => entryCount(file) >= rows);
      release = holdWriteLock(file);
      const lockedAt = Date.now();
      // The default busy timeout (5 s) for the batch, again for the row, and once more for the
      // lease's renewal when one is under way (the embedded lease lives in the index and is
      // renewed every 10 s on its one connection): before, 10 s each, then "unexpected error:
      // database is locked" and no result at all.
      const out = await trawl.exit(40_000);
      expect(Date.now() - lockedAt).toBeLessThan(20_000);
      expect(out.code).toBe(1);
      const result = jsonResult(out);
      expect(result.status).toBe('failed');
      expect(result.errorSample).toContainEqual(expect.objectContaining({ code: 'INDEX_LOCKED' }));
      expect(out.messages).toEqual([
        expect.stringMatching(
          /^trawl: scan \d+ failed: .*locked by another process.*stays "running".*run the scan again when that process is done/,
        ),
      ]);
      release();
      release = undefined;
      // Honest: the row could not be finished while the lock was held.
      expect(scanRow(file, result.scanId as number)).toMatchObject({ status: 'running' });
      expect(expectTrueToTree(entryRows(file), DIRS, FILES)).toBeGreaterThan(0);
      const again = await startTrawl([...SCAN, '--db', file], PACED).exit(30_000);
      expect(jsonResult(again)).toMatchObject({ status: 'succeeded', files: DIRS * FILES });
      expect(entryRows(file)).toHaveLength(DIRS * (FILES + 1));
    },
  );

  it('finishes its row failed once the other process lets go', async () => {
    dir = tempDir('trawl-locked-');
    const file = join(dir.path, 'index.db');
    const trawl = startTrawl([...SCAN, '--db', file], {
      ...PACED,
      TRAWL_SQLITE_BUSY_TIMEOUT_MS: '3000',
    });
    await until(() => entryCount(file) >= 600);
    release = holdWriteLock(file);
    // The batch gives up after 3 s; the row's write waits up to 3 s more: let go in between.
    await new Promise((r) => setTimeout(r, 4_500));
    release();
    release = undefined;
    const out = await trawl.exit(20_000);
    expect(out.code).toBe(1);
    const result = jsonResult(out);
    expect(result.errorSample).toContainEqual(expect.objectContaining({ code: 'INDEX_LOCKED' }));
    expect(out.messages).toEqual([expect.not.stringMatching(/stays "running"/)]);
    const row = scanRow(file, result.scanId as number);
    expect(row).toMatchObject({ status: 'failed' });
    expect(row!.finished_at).not.toBeNull();
    expectTrueToTree(entryRows(file), DIRS, FILES);
  });

  it('ends failed with INDEX_DISK_FULL when the disk fills up, and says what became of it', async (ctx) => {
    if (process.getuid?.() !== 0) {
      // A real full disk is a small tmpfs, and mounting one takes root (CI runs as root).
      if (process.env.TRAWL_REQUIRE_SERVICES) throw new Error('a full disk test needs root');
      ctx.skip();
    }
    dir = tempDir('trawl-full-');
    const mount = join(dir.path, 'small');
    mkdirSync(mount);
    // Room for the schema and a few thousand entries, not for the 12,600 of the tree.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
    try {
      const file = join(mount, 'index.db');
      const out = await startTrawl([...SCAN, '--db', file], PACED).exit(30_000);
      expect(out.code).toBe(1);
      const result = jsonResult(out);
      expect(result.status).toBe('failed');
      expect(result.errorSample).toContainEqual(
        expect.objectContaining({ code: 'INDEX_DISK_FULL' }),
      );
      expect(out.messages).toEqual([
        expect.stringMatching(
          /^trawl: scan \d+ failed: .*disk that holds the index is full.*Free some space/,
        ),
      ]);
      // Whether the row's last write still found room depends on where the space ended (the
      // WAL's last frame): either way the line says what became of it, truthfully, and every
      // batch written is whole.
      const row = scanRow(file, result.scanId as number) as { status: string };
      expect(out.messages[0]!.includes('stays "running"')).toBe(row.status === 'running');
      expect(['running', 'failed']).toContain(row.status);
      expect(expectTrueToTree(entryRows(file), DIRS, FILES)).toBeGreaterThan(0);
    } finally {
      execFileSync('umount', [mount]);
    }
  });
});

describe('opening a SQLite index another process holds', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let release: (() => void) | undefined;
  afterEach(() => {
    release?.();
    release = undefined;
    dir?.cleanup();
  });

  /** A fresh index file (no WAL yet) under an exclusive lock, as a writer mid-transaction holds it. */
  function lockedFreshIndex(): string {
    dir = tempDir('trawl-fresh-');
    const file = join(dir.path, 'index.db');
    const db = new Database(file);
    db.exec('BEGIN EXCLUSIVE');
    release = () => {
      db.exec('ROLLBACK');
      db.close();
    };
    return file;
  }

  const waiting = (file: string) =>
    `trawl: waiting for the index ${file} (locked by another process)…`;

  it('says what it waits for, and gives up after its busy timeout', async () => {
    const file = lockedFreshIndex();
    const trawl = startTrawl([...SCAN, '--db', file], PACED);
    await trawl.waitFor(waiting(file), 3_000);
    // Before: 100 tries of 10 s each, in silence.
    const out = await trawl.exit(15_000);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe(''); // no scan started, so no result
    expect(out.messages).toEqual([
      waiting(file),
      expect.stringMatching(
        /^trawl: the index .*index\.db is locked by another process \(waited 5 s.*run the scan again when that process is done/,
      ),
    ]);
  });

  it('goes on as soon as the other process lets go', async () => {
    const file = lockedFreshIndex();
    const trawl = startTrawl([...SCAN, '--db', file], PACED);
    await trawl.waitFor(waiting(file), 3_000);
    release!();
    release = undefined;
    const out = await trawl.exit(30_000);
    expect(out.code).toBe(0);
    expect(jsonResult(out)).toMatchObject({ status: 'succeeded', files: DIRS * FILES });
    expect(out.messages).toEqual([waiting(file)]);
  });

  it('stops at once on Ctrl-C while it waits, leaving nothing half-made', async () => {
    const file = lockedFreshIndex();
    const trawl = startTrawl([...SCAN, '--db', file], PACED);
    await trawl.waitFor(waiting(file), 3_000);
    const signalled = Date.now();
    trawl.kill('SIGINT');
    const out = await trawl.exit(10_000);
    expect(Date.now() - signalled).toBeLessThan(1_500);
    expect(out).toMatchObject({ code: 130, signal: null, stdout: '' });
    expect(out.messages).toEqual([waiting(file), 'trawl: cancelled before the scan started']);
    release!();
    release = undefined;
    // Not one table: the open stopped before it had changed anything.
    expect(
      read(file, (db) => db.prepare('SELECT count(*) FROM sqlite_master').pluck().get(), -1),
    ).toBe(0);
  });
});
