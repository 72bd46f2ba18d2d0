/**
 * A new SQLite index file starts as a copy of an empty index made at build
 * (src/db/sqlite/prebuilt.ts, scripts/bundle.js): it must be what the schema script makes,
 * with the migrations recorded at the open, and never replace a file that is there.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATION_NAMES } from '../src/db/migrations/names.js';
import { migrateIndex, openIndex } from '../src/db/open.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import { openSqliteFile } from '../src/db/sqlite/driver.js';
import { createFromScript } from '../src/db/sqlite/fresh-schema.js';
import { placePrebuilt, prebuiltIndex } from '../src/db/sqlite/prebuilt.js';
import { tempDir } from './support/harness.js';

/** The schema (sqlite_master, but root pages), the migrations' names, the file's pragmas. */
function snapshot(file: string) {
  const raw = openSqliteFile(file);
  try {
    return {
      master: raw
        .prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name')
        .all(),
      migrations: raw.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all(),
      pragmas: ['journal_mode', 'user_version', 'page_size', 'auto_vacuum', 'encoding'].map((p) =>
        raw.pragma(p, { simple: true }),
      ),
    };
  } finally {
    raw.close();
  }
}

/** An empty index as the build makes it: the script in WAL mode. */
function template(file: string, change?: (raw: BetterSqlite3.Database) => void): string {
  const raw = openSqliteFile(file);
  raw.pragma('journal_mode = WAL');
  createFromScript(raw);
  change?.(raw);
  raw.close();
  return file;
}

describe('the prebuilt SQLite index', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  const file = (name: string) => join((dir ??= tempDir()).path, name);
  afterEach(() => {
    dir?.cleanup();
    dir = undefined;
  });

  it('makes a new index that the schema script would have made, stamped at the open', async () => {
    expect(prebuiltIndex(), 'run `npm run build` first').toBeDefined();
    const started = new Date().toISOString();
    const probe = await connectSqlite(file('probe.db'));
    expect(probe.placedFresh).toBeDefined(); // the copy, not SQLite, makes a new file
    await probe.close();
    const copied = file('copied.db');
    expect(await migrateIndex(copied)).toEqual(MIGRATION_NAMES);
    const scripted = file('scripted.db');
    expect(await migrateIndex(scripted, { prebuilt: false })).toEqual(MIGRATION_NAMES);
    expect(snapshot(copied)).toEqual(snapshot(scripted));
    const raw = openSqliteFile(copied);
    const times = raw.prepare('SELECT timestamp FROM kysely_migration').pluck().all() as string[];
    raw.close();
    expect(times.length).toBe(MIGRATION_NAMES.length);
    for (const time of times) expect(time >= started, time).toBe(true);
    // An index already there is opened, not copied over.
    const again = await connectSqlite(copied);
    expect(again.placedFresh).toBeUndefined();
    await again.close();
    const unasked = await connectSqlite(file('unasked.db'), { prebuilt: false });
    expect(unasked.placedFresh).toBeUndefined();
    await unasked.close();
  });

  it('never replaces a file, and leaves no file of its own behind', () => {
    const made = template(file('template.db'));
    const there = file('there.db');
    writeFileSync(there, 'not an index');
    expect(placePrebuilt(there, made)).toBe(false);
    expect(readFileSync(there, 'utf8')).toBe('not an index');
    // Two processes at once: the second finds the first one's copy.
    const both = file('both.db');
    expect(placePrebuilt(both, made)).toBe(true);
    expect(placePrebuilt(both, made)).toBe(false);
    // No prebuilt index (a build without it): nothing made, SQLite makes the file.
    expect(placePrebuilt(file('none.db'), file('missing.db'))).toBe(false);
    expect(existsSync(file('none.db'))).toBe(false);
    expect(readdirSync(dir!.path).sort()).toEqual(['both.db', 'template.db', 'there.db'].sort());
  });

  it('migrates a copy made by an older build to this one', async () => {
    // The build before migration 021: its column and its row are not there.
    const last = MIGRATION_NAMES.at(-1)!;
    expect(last).toBe('021-listing-digest');
    const stale = template(file('stale-template.db'), (raw) => {
      raw.exec('ALTER TABLE entries DROP COLUMN listing_digest');
      raw.prepare('DELETE FROM kysely_migration WHERE name = ?').run(last);
    });
    const copied = file('copied.db');
    expect(placePrebuilt(copied, stale)).toBe(true);
    expect(await migrateIndex(copied)).toEqual([last]);
    const scripted = file('scripted.db');
    await migrateIndex(scripted, { prebuilt: false });
    expect(snapshot(copied)).toEqual(snapshot(scripted));
    const index = await openIndex(copied);
    await index.close();
  });
});
