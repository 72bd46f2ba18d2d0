/**
 * SQLite reads a directory's children through entries_storage_parent_name, whatever other
 * index leads with the tenant: a scan of the storage's rows per directory makes a first scan
 * quadratic (migration 009's entries_mtime_step once made the planner choose so).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex, type Index } from '../src/db/open.js';
import { CHILDREN_SQL, type SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { createDatabase, type TestDatabase } from './support/databases.js';

describe('SQLite childrenOf', () => {
  let database: TestDatabase | undefined;
  let index: Index | undefined;
  afterEach(async () => {
    await index?.close();
    await database?.drop();
  });

  it('reads one range of entries_storage_parent_name on a fully migrated index', async () => {
    database = await createDatabase('sqlite');
    index = await openIndex(database.url);
    const raw = (index.entries as SqliteEntryRepository).database;
    const plan = raw.prepare(`EXPLAIN QUERY PLAN ${CHILDREN_SQL}`).all(1, '/a', 1) as Array<{
      detail: string;
    }>;
    expect(plan.map((r) => r.detail)).toEqual([
      'SEARCH entries USING INDEX entries_storage_parent_name (storage_id=? AND parent=?)',
    ]);
  });
});
