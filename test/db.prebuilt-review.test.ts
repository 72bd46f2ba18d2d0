/**
 * Review (h-review): hostile cases of the prebuilt index copy (src/db/sqlite/prebuilt.ts).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateIndex } from '../src/db/open.js';
import { placePrebuilt, prebuiltIndex } from '../src/db/sqlite/prebuilt.js';
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
    expect(placePrebuilt(file, prebuiltIndex())).toBe(false);
    expect(existsSync(theirs)).toBe(true); // fails: the finally unlinks it
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
