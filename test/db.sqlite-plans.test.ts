/**
 * SQLite plans the reconciler's per-directory read without statistics: an index added for
 * search (009's `(tenant_id, time step)`) once made it pick the storage's whole unique index
 * for every directory — a first scan went quadratic. The plan is pinned here on a fully
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

  it("reads a directory's children by the parent index, not by scanning the storage", async () => {
    const dir = tempDir('trawl-plans-');
    cleanups.push(dir.cleanup);
    const file = join(dir.path, 'index.db');
    await (await openIndex(file)).close();
    const db = new Database(file, { readonly: true });
    cleanups.push(() => db.close());
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${CHILDREN_SQL}`)
      .all(1, '/a', 1)
      .map((r) => (r as { detail: string }).detail);
    expect(plan).toEqual([
      expect.stringMatching(
        /^SEARCH entries USING INDEX entries_storage_parent_name \(storage_id=\? AND parent=\?\)$/,
      ),
    ]);
  });

  it("pages a directory's children within its subtree's path range", async () => {
    const dir = tempDir('trawl-plans-');
    cleanups.push(dir.cleanup);
    const file = join(dir.path, 'index.db');
    await (await openIndex(file)).close();
    const db = new Database(file, { readonly: true });
    cleanups.push(() => db.close());
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${LIST_CHILDREN_SQL}`)
      .all(1, 1, '/a', '/a/', '/a0')
      .map((r) => (r as { detail: string }).detail);
    expect(plan).toEqual([
      expect.stringMatching(/\(storage_id=\? AND tenant_id=\? AND path>\? AND path<\?\)$/),
    ]);
  });
});
