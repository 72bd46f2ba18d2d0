/**
 * better-sqlite3's addon as src/db/sqlite/driver.ts finds and loads it: by a stat per folder
 * up, not Node's resolution, and with process.dlopen, not require().
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeBinding, nearestAddon, openSqliteFile } from '../src/db/sqlite/driver.js';
import { tempDir } from './support/harness.js';

const ADDON = 'better-sqlite3/build/Release/better_sqlite3.node';

describe('the SQLite driver', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(() => tmp?.cleanup());

  it("finds the addon Node's resolution finds, from the driver's folder", () => {
    const here = dirname(fileURLToPath(import.meta.url));
    // Node's answer is a real path; a node_modules reached through a link is the same file.
    const resolved = createRequire(import.meta.url).resolve(ADDON);
    expect(realpathSync(nearestAddon(here)!)).toBe(resolved);
    expect(realpathSync(nativeBinding() as string)).toBe(resolved);
  });

  it('takes the nearest node_modules folder at or above, and none when there is none', () => {
    tmp = tempDir('trawl-driver-');
    const outer = join(tmp.path, 'node_modules', ADDON);
    const inner = join(tmp.path, 'pkg', 'node_modules', ADDON);
    for (const file of [outer, inner]) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, '');
    }
    mkdirSync(join(tmp.path, 'pkg', 'dist', 'bundle'), { recursive: true });
    mkdirSync(join(tmp.path, 'other'));
    expect(nearestAddon(join(tmp.path, 'pkg', 'dist', 'bundle'))).toBe(inner);
    expect(nearestAddon(join(tmp.path, 'other'))).toBe(outer);
    expect(nearestAddon(join(tmp.path, 'pkg'))).toBe(inner);
    // `/` has none here (the tests' own is under the repository).
    expect(nearestAddon('/')).toBeUndefined();
  });

  it('opens databases with the addon it loaded, its errors of the package its class', () => {
    const a = openSqliteFile(':memory:');
    const b = openSqliteFile(':memory:');
    try {
      expect(a.prepare('SELECT 1 + 1').pluck().get()).toBe(2);
      // The addon was set up with the package's SqliteError (lib/database.js, at first use):
      // callers tell a database error by it (src/db/errors.ts).
      expect(() => b.prepare('SELEC')).toThrow(BetterSqlite3.SqliteError);
    } finally {
      a.close();
      b.close();
    }
  });
});
