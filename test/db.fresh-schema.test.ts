/**
 * A fresh SQLite index is made from one schema script (src/db/sqlite/fresh-schema.ts,
 * written by scripts/sqlite-schema.js) instead of by running every migration: the script
 * must leave exactly what the migrations leave, and a script behind the migrations must
 * still end in a current index.
 */
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MIGRATION_NAMES, migrations } from '../src/db/migrations/index.js';
import { openIndex } from '../src/db/open.js';
import { openSqliteFile } from '../src/db/sqlite/driver.js';
import { createFromScript, type SchemaScript } from '../src/db/sqlite/fresh-schema.js';
import { LockingSqliteDialect } from '../src/db/sqlite/migration-lock.js';
import { schemaStatements } from '../src/db/sqlite/schema-dump.js';
import { SCRIPT_MIGRATIONS, SCRIPT_STATEMENTS } from '../src/db/sqlite/schema-script.js';
import { tempDir } from './support/harness.js';

/** Everything a schema is: sqlite_master (but root pages), every table's rows, the pragmas. */
function snapshot(raw: BetterSqlite3.Database) {
  const master = raw
    .prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name')
    .all();
  const tables = raw
    // A virtual table's rows are its shadow tables' (a contentless FTS5 table cannot be read).
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'
        ORDER BY name`,
    )
    .pluck()
    .all() as string[];
  const rows = Object.fromEntries(
    tables.map((t) => {
      // When each migration ran is not the schema: the names and their order are.
      const columns = t === 'kysely_migration' ? 'name' : '*';
      return [t, raw.prepare(`SELECT ${columns} FROM "${t}" ORDER BY 1`).raw().all()];
    }),
  );
  const pragmas = ['user_version', 'application_id', 'page_size', 'auto_vacuum', 'encoding'];
  return {
    master,
    rows,
    pragmas: Object.fromEntries(pragmas.map((p) => [p, raw.pragma(p, { simple: true })])),
  };
}

/** A new file migrated by Kysely's migrator up to `last`, as an index was before the script. */
async function migratedFile(file: string, last: string): Promise<BetterSqlite3.Database> {
  const raw = openSqliteFile(file);
  const db = new Kysely({ dialect: new LockingSqliteDialect(raw) });
  const { error } = await new Migrator({ db, provider: migrations('sqlite') }).migrateTo(last);
  if (error) throw error;
  return raw;
}

describe('the SQLite schema script', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  const files: BetterSqlite3.Database[] = [];
  const file = (name: string) => join((dir ??= tempDir()).path, name);
  const open = (name: string) => {
    const raw = openSqliteFile(file(name));
    files.push(raw);
    return raw;
  };
  afterEach(() => {
    for (const raw of files.splice(0)) if (raw.open) raw.close();
    vi.restoreAllMocks();
    dir?.cleanup();
    dir = undefined;
  });

  it('stands for every migration of this trawl (else: node scripts/sqlite-schema.js)', () => {
    expect(SCRIPT_MIGRATIONS).toEqual(MIGRATION_NAMES);
  });

  it('makes exactly what running its migrations makes', async () => {
    const migrated = await migratedFile(file('migrated.db'), SCRIPT_MIGRATIONS.at(-1)!);
    files.push(migrated);
    const scripted = open('scripted.db');
    expect(createFromScript(scripted)).toEqual(SCRIPT_MIGRATIONS);
    const want = snapshot(migrated);
    expect(want.master.length).toBeGreaterThan(20);
    expect(snapshot(scripted)).toEqual(want);
  });

  it('makes a fresh index at open without the migrator, and reports every migration', async () => {
    const migrate = vi.spyOn(Migrator.prototype, 'migrateToLatest');
    let applied: string[] = [];
    const index = await openIndex(file('fresh.db'), { onMigrated: (names) => (applied = names) });
    await index.close();
    expect(migrate).not.toHaveBeenCalled();
    expect(applied).toEqual(MIGRATION_NAMES);
    const raw = open('fresh.db');
    const recorded = raw.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all();
    expect(recorded).toEqual(MIGRATION_NAMES);
  });

  it('behind the migrations: the migrator runs the ones it lacks, to the same schema', async () => {
    // A script of migrations 001–013, as a trawl before 014 would have written it.
    const older = MIGRATION_NAMES.slice(0, MIGRATION_NAMES.indexOf('013-time-steps') + 1);
    const at013 = await migratedFile(file('at013.db'), older.at(-1)!);
    const script: SchemaScript = { migrations: older, statements: schemaStatements(at013) };
    at013.close();
    const raw = open('behind.db');
    expect(createFromScript(raw, script)).toEqual(older);
    raw.close();
    const migrate = vi.spyOn(Migrator.prototype, 'migrateToLatest');
    let applied: string[] = [];
    const index = await openIndex(file('behind.db'), { onMigrated: (n) => (applied = n) });
    await index.close();
    expect(migrate).toHaveBeenCalledTimes(1);
    expect(applied).toEqual(MIGRATION_NAMES.slice(older.length));
    const full = await migratedFile(file('full.db'), MIGRATION_NAMES.at(-1)!);
    files.push(full);
    expect(snapshot(open('behind.db'))).toEqual(snapshot(full));
  });

  it('leaves a file that holds anything to the migrator, untouched', () => {
    const raw = open('other.db');
    raw.exec('CREATE TABLE mine (x integer)');
    expect(createFromScript(raw)).toBeUndefined();
    expect(raw.inTransaction).toBe(false);
    const names = raw.prepare('SELECT name FROM sqlite_master').pluck().all();
    expect(names).toEqual(['mine']);
  });

  it('is the whole script or nothing: a failing statement leaves the file empty', () => {
    const raw = open('broken.db');
    const broken: SchemaScript = {
      migrations: SCRIPT_MIGRATIONS,
      statements: [...SCRIPT_STATEMENTS, 'CREATE TABLE tenants (x integer)'],
    };
    expect(() => createFromScript(raw, broken)).toThrow(/already exists/);
    expect(raw.inTransaction).toBe(false);
    expect(raw.prepare('SELECT count(*) FROM sqlite_master').pluck().get()).toBe(0);
  });
});
