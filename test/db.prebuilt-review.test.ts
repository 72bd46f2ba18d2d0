/**
 * Review (h-review): hostile cases of the prebuilt index copy (src/db/sqlite/prebuilt.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATION_NAMES } from '../src/db/migrations/names.js';
import { migrateIndex } from '../src/db/open.js';
import { openSqliteFile } from '../src/db/sqlite/driver.js';
import { placePrebuilt, prebuiltIndex, prebuiltName } from '../src/db/sqlite/prebuilt.js';
import { tempDir } from './support/harness.js';

describe('prebuilt index, review', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => {
    dir?.cleanup();
    dir = undefined;
  });

  it('removes no <file>.<pid>.prebuilt that this call did not make', () => {
    dir = tempDir();
    const file = join(dir.path, 'index.db');
    // Another writer of the same name (a thread of this process, or a process of the same
    // pid in another pid namespace on a shared volume) is mid-way through its copy.
    const theirs = `${file}.${process.pid}.prebuilt`;
    writeFileSync(theirs, 'partial copy');
    // This call's own name is its own (pid and random): it copies, and leaves theirs alone.
    expect(placePrebuilt(file, prebuiltIndex())).toBe(true);
    expect(existsSync(theirs)).toBe(true);
    expect(readdirSync(dir.path).sort()).toEqual([
      'index.db',
      'index.db.' + process.pid + '.prebuilt',
    ]);
  });

  it('an existing current index named as a SQLite URI (file:…) is not reported as migrated, nor a stray file made', async () => {
    dir = tempDir();
    const real = join(dir.path, 'real.db');
    expect(await migrateIndex(real)).not.toEqual([]); // made
    expect(await migrateIndex(real)).toEqual([]); // current
    const cwd = process.cwd();
    process.chdir(dir.path);
    try {
      // SQLITE_USE_URI=1 (read-only.ts): SQLite opens real.db; placePrebuilt sees no
      // literal "file:real.db", copies one there and the open stamps real.db as placed.
      const applied = await migrateIndex('file:real.db');
      expect(applied).toEqual([]);
      expect(readdirSync(dir.path).filter((n) => n.startsWith('file:'))).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('prebuilt index, review: a leftover -wal', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => {
    dir?.cleanup();
    dir = undefined;
  });

  // An index whose process died (kill -9, OOM) leaves index.db-wal; the user removes
  // index.db to start over. SQLite, making a new (empty) file, discards a WAL beside it; a
  // copy of the prebuilt index is a WAL-mode file with pages, so SQLite replays the old
  // index's WAL onto it: the "new" index is the old one's last state (or a corrupt mix).
  for (const prebuilt of [false, true]) {
    it(`a new index over a dead index's -wal is the empty schema (prebuilt: ${prebuilt})`, async () => {
      dir = tempDir();
      const file = join(dir.path, 'index.db');
      await migrateIndex(file);
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      execFileSync(process.execPath, [
        '-e',
        `const D = require(${JSON.stringify(driver)}); const db = new D(${JSON.stringify(file)});
         db.pragma('wal_autocheckpoint = 0');
         db.exec("CREATE TABLE leftover(x); INSERT INTO leftover VALUES (1); DROP TABLE storages");
         process.exit(0); // dies without closing: the WAL stays`,
      ]);
      expect(existsSync(`${file}-wal`)).toBe(true);
      rmSync(file);
      await migrateIndex(file, { prebuilt });
      const raw = openSqliteFile(file);
      try {
        const tables = raw
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
          .pluck()
          .all() as string[];
        expect(tables).not.toContain('leftover');
        expect(tables).toContain('storages');
      } finally {
        raw.close();
      }
    });
  }
});

describe('prebuilt index, review: a build/ of other migrations than the code', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => {
    dir?.cleanup();
    dir = undefined;
  });

  // build/ from a branch with a newer migration, the code (src/ under the tests, or dist/
  // after a tsc-only build) from one without: its copy records a migration this code does
  // not know, and an index made from it could never be opened ("corrupted migrations").
  // The copy is named after its last migration, and only this code's name is taken.
  it('takes only the copy named after the last migration this code knows', () => {
    dir = tempDir();
    const below = join(dir.path, 'dist', 'db', 'sqlite');
    mkdirSync(below, { recursive: true });
    mkdirSync(join(dir.path, 'build'));
    const newer = [...MIGRATION_NAMES, '999-from-a-newer-branch'];
    const older = MIGRATION_NAMES.slice(0, -1);
    for (const names of [newer, older]) {
      writeFileSync(join(dir.path, prebuiltName(names)), '');
    }
    expect(prebuiltIndex(below)).toBeUndefined();
    writeFileSync(join(dir.path, prebuiltName()), '');
    expect(prebuiltIndex(below)).toBe(join(dir.path, prebuiltName()));
    // The build's own copy is this code's (npm run build made it from these migrations).
    expect(prebuiltIndex()).toMatch(new RegExp(`fresh-index\\.${MIGRATION_NAMES.at(-1)}\\.db$`));
  });

  it("makes no copy beside a dead index's journal, nor for a SQLite URI", () => {
    dir = tempDir();
    const file = join(dir.path, 'index.db');
    writeFileSync(`${file}-journal`, 'hot journal');
    expect(placePrebuilt(file, prebuiltIndex())).toBe(false);
    expect(existsSync(file)).toBe(false);
    expect(placePrebuilt(`file:${join(dir.path, 'other.db')}`, prebuiltIndex())).toBe(false);
    expect(readdirSync(dir.path)).toEqual(['index.db-journal']);
  });
});
