/**
 * SQLite plans the reconciler's per-directory reads without statistics: an index added for
 * search (009's `(tenant_id, time step)`) once made it pick the storage's whole unique index
 * for every directory — a first scan went quadratic. The plans are pinned here on a fully
 * migrated index.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
} from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex } from '../src/db/open.js';
import { inSteps, stepKeys } from '../src/db/queries/by-time.js';
import { childrenOf, parentIn, sqliteChildrenKey } from '../src/db/queries/parent.js';
import {
  CHILDREN_SQL,
  DIGESTS_SQL,
  LIST_CHILDREN_SQL,
  ROOT_CHILDREN_SQL,
} from '../src/db/sqlite/entries.js';
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
    // By the directory's id (019), found by its path; and its orphans (none, as a whole
    // scan leaves the index) by their partial index.
    expect(await planOf(CHILDREN_SQL, [1, '/a', 1, 1, '/a/', '/a0', '/a', 1])).toEqual([
      'COMPOUND QUERY',
      'LEFT-MOST SUBQUERY',
      'SEARCH entries USING INDEX entries_parent_name (parent_id=?)',
      'SCALAR SUBQUERY 1',
      'SEARCH entries USING COVERING INDEX sqlite_autoindex_entries_1 (storage_id=? AND path=?)',
      'UNION ALL',
      'SEARCH entries USING INDEX entries_orphans (storage_id=? AND path>? AND path<?)',
    ]);
    expect(await planOf(ROOT_CHILDREN_SQL, [1, 1])).toEqual([
      'SEARCH entries USING INDEX entries_parent_name (parent_id=?)',
    ]);
  });

  it("probes a batch's directory rows one path at a time by the unique index", async () => {
    // json_each outermost: without CROSS JOIN the planner may scan the storage's rows once
    // per batch and look each up in the array (the trap a batched children read fell into).
    expect(await planOf(DIGESTS_SQL, ['["/a","/b"]', 1, 1])).toEqual([
      'SCAN j VIRTUAL TABLE INDEX 1:',
      'SEARCH e USING INDEX sqlite_autoindex_entries_1 (storage_id=? AND path=?)',
    ]);
  });

  it("pages a directory's children within its subtree's path range", async () => {
    expect(await planOf(LIST_CHILDREN_SQL, [1, 1, '/a', '/a/', '/a0'])).toEqual([
      expect.stringMatching(/\(storage_id=\? AND path>\? AND path<\?\)$/),
    ]);
  });

  /** Compiles without a database: the SQL text and parameters SQLite is given. */
  const compiler = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });

  it("reads a directory's children and its orphans by one key of the parent index, in name order", async () => {
    // `IS`: the directory's row id, or NULL (the orphans' key) when it has no directory's row.
    // The keyed read keeps the index's order: a page by name stops after a page.
    const q = sql`SELECT id FROM entries WHERE ${childrenOf('sqlite', 1, '/a')} AND is_dir = 0
      AND +tenant_id = 1 ORDER BY name LIMIT 101`.compile(compiler);
    expect(await planOf(q.sql, [...q.parameters])).toEqual([
      'SEARCH entries USING INDEX entries_parent_name (parent_id=? AND is_dir=?)',
      'SCALAR SUBQUERY 1',
      'SEARCH entries USING INDEX sqlite_autoindex_entries_1 (storage_id=? AND path=?)',
    ]);
    // A count by the key alone reads the children index alone (an upper bound for orphans).
    const n = sql`SELECT count(*) FROM (SELECT 1 FROM entries
      WHERE ${sqliteChildrenKey(1, '/a')} AND is_dir = 1 LIMIT 20001)`.compile(compiler);
    expect(await planOf(n.sql, [...n.parameters])).toContain(
      'SEARCH entries USING COVERING INDEX entries_parent_name (parent_id=? AND is_dir=?)',
    );
  });

  it("walks down du's levels by the parent index, and their orphans by their partial index", async () => {
    const q = sql`SELECT path FROM entries WHERE ${parentIn('sqlite', 1, ['/', '/a', '/b'])}
      AND tenant_id + 0 = 1 AND is_dir = 1`.compile(compiler);
    expect(await planOf(q.sql, [...q.parameters])).toEqual([
      'MULTI-INDEX OR',
      'INDEX 1',
      'LIST SUBQUERY 2',
      'COMPOUND QUERY',
      'LEFT-MOST SUBQUERY',
      'SEARCH entries USING INDEX sqlite_autoindex_entries_1 (storage_id=? AND path=?)',
      'UNION ALL',
      'SCAN CONSTANT ROW',
      'SEARCH entries USING INDEX entries_parent_name (parent_id=? AND is_dir=?)',
      'INDEX 2',
      'SEARCH entries USING INDEX entries_orphans (storage_id=?)',
    ]);
  });

  it("finds the window of time steps in 013's table alone, in its key order", async () => {
    const keys = stepKeys('sqlite', 1, [['<', 5]]);
    const q = sql`${keys.select} ORDER BY ${keys.key} DESC LIMIT 2000`.compile(compiler);
    expect(await planOf(q.sql, [...q.parameters])).toEqual([
      'SEARCH entries_time_steps USING PRIMARY KEY (tenant_id=? AND step<?)',
    ]);
  });

  it("reads the rows of a step range by id from 013's table and the backlog", async () => {
    const q = sql`SELECT id FROM entries
      WHERE ${inSteps('sqlite', 1, [
        ['>=', 3],
        ['<=', 5],
      ])} AND +media_kind = 'video'
      ORDER BY mtime DESC, id DESC LIMIT 101`.compile(compiler);
    const plan = await planOf(q.sql, [...q.parameters]);
    expect(plan[0]).toBe('SEARCH entries USING INTEGER PRIMARY KEY (rowid=?)');
    expect(plan).toContain(
      'SEARCH entries_time_steps USING PRIMARY KEY (tenant_id=? AND step>? AND step<?)',
    );
    expect(plan).toContain('SEARCH entries USING INTEGER PRIMARY KEY (rowid>?)');
    // The watermark is one row; no other table is scanned.
    expect(plan.filter((d) => d.startsWith('SCAN'))).toEqual(['SCAN search_watermark']);
  });
});
