/**
 * SQLite plans the reconciler's per-directory reads without statistics: an index added for
 * search (009's `(tenant_id, time step)`) once made it pick the storage's whole unique index
 * for every directory — a first scan went quadratic. The plans are pinned here on a fully
 * migrated index.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex } from '../src/db/open.js';
import { CHILDREN_SQL, LIST_CHILDREN_SQL } from '../src/db/sqlite/entries.js';
import { tempDir } from './support/harness.js';

describe('SQLite plans on a migrated index', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** What SQLite plans for `statement` on a fresh index with every migration applied. */
  async function planOf(statement: string, params: unknown[]): Promise<string[]> {
    const dir = tempDir('trawl-plans-');
    cleanups.push(dir.cleanup);
    const file = join(dir.path, 'index.db');
    await (await openIndex(file)).close();
    const db = new Database(file, { readonly: true });
    cleanups.push(() => db.close());
    return db
      .prepare(`EXPLAIN QUERY PLAN ${statement}`)
      .all(...params)
      .map((r) => (r as { detail: string }).detail);
  }

  it("reads a directory's children by the parent index, not by scanning the storage", async () => {
    expect(await planOf(CHILDREN_SQL, [1, '/a', 1])).toEqual([
      'SEARCH entries USING INDEX entries_storage_parent_name (storage_id=? AND parent=?)',
    ]);
  });

  it("pages a directory's children within its subtree's path range", async () => {
    expect(await planOf(LIST_CHILDREN_SQL, [1, 1, '/a', '/a/', '/a0'])).toEqual([
      expect.stringMatching(/\(storage_id=\? AND tenant_id=\? AND path>\? AND path<\?\)$/),
    ]);
  });
});
