/**
 * SQLite's entries repository, its writer and the name index prepare their statements at
 * first use (src/db/sqlite/statements.ts): an index opened for a scan that writes nothing
 * prepares none of them, and what is used still works.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EntryScope } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { NameIndexBacklog } from '../src/db/sqlite/name-index.js';
import { createDatabase, memoryStorageScope, type TestDatabase } from './support/databases.js';

describe('SQLite statements prepared at first use', () => {
  let database: TestDatabase;
  let index: Index;
  let scope: EntryScope;

  beforeEach(async () => {
    database = await createDatabase('sqlite');
    index = await openIndex(database.url);
    scope = await memoryStorageScope(index);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await index.close();
    await database.drop();
  });

  const raw = () => (index.entries as SqliteEntryRepository).database;

  it('prepares none for a repository that reads one directory and writes nothing', async () => {
    const prepare = vi.spyOn(raw(), 'prepare');
    const transaction = vi.spyOn(raw(), 'transaction');
    const names = new NameIndexBacklog(raw());
    const repo = new SqliteEntryRepository(raw(), names);
    expect(prepare).not.toHaveBeenCalled();
    expect(await repo.childrenOf(scope, ['/'])).toEqual(new Map());
    expect(prepare).toHaveBeenCalledTimes(1);
    // Nothing pending: no write lock, no catch-up statements, no transaction.
    expect(names.catchUp()).toBe(0);
    expect(prepare).toHaveBeenCalledTimes(2);
    expect(transaction).not.toHaveBeenCalled();
    await repo.close();
  });

  it('prepares the writer’s statements at the first batch, once, and writes as before', async () => {
    const repo = new SqliteEntryRepository(raw(), new NameIndexBacklog(raw(), 1));
    const prepare = vi.spyOn(raw(), 'prepare');
    const row = (path: string, size: number) => ({
      path,
      parent: '/',
      name: path.slice(1),
      isDir: false,
      size,
      mtime: 1,
      etag: null,
      mediaKind: null,
      isNew: true,
    });
    const first = await repo.apply(scope, [], [row('/a', 1), row('/b', 2)]);
    expect(first.created).toHaveLength(2);
    const afterFirst = prepare.mock.calls.length;
    expect(afterFirst).toBeGreaterThan(0);
    const second = await repo.apply(scope, [], [row('/c', 3), row('/d', 4)]);
    expect(second.created).toHaveLength(2);
    expect(prepare.mock.calls.length).toBe(afterFirst);
    const kids = await repo.childrenOf(scope, ['/']);
    expect(kids.get('/')?.map((e) => e.path)).toEqual(['/a', '/b', '/c', '/d']);
    // The backlog limit of 1 made each batch add its rows to the name index.
    expect(new NameIndexBacklog(raw()).pending()).toBe(0);
    await repo.close();
  });
});
