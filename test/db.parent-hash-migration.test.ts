/**
 * Migration 015 on PostgreSQL: the children index keyed by a hash of the parent. An index
 * written by 013 is carried over without a rescan: children, browse and du find the same
 * rows as before, and the statements that read children by parent are served by the new
 * index (its hash as the index condition, the parent tested on the row).
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex } from '../src/db/open.js';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { createDatabase, skipDialect, withPg, type TestDatabase } from './support/databases.js';
import { migrateTo, postgresIndexAt } from './support/older-index.js';

const DIRS = ['/a', '/a/c', '/b'];
const FILES = ['/a/x.mkv', '/a/y.txt', '/a/c/z.flac', '/b/w.jpg', '/top.txt'];

describe.skipIf(await skipDialect('postgres'))('migration 015 on postgres', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('carries a 013 index over without a rescan, children keyed by a hash of the parent', async () => {
    db = await createDatabase('postgres');
    await postgresIndexAt(db.url, '013-time-steps', DIRS, FILES);
    const index = await openIndex(db.url);
    try {
      const { rows } = await sql<{ def: string }>`SELECT pg_get_indexdef(
        'entries_storage_parent_name'::regclass) AS def`.execute(index.db);
      // 018 has since keyed the same index by the parent computed from path and name.
      expect(rows[0]!.def).toContain('hashtextextended(');
      const scope = { tenantId: 1, storageId: 1 };
      const kids = await index.entries.childrenOf(scope, ['/', '/a', '/a/c', '/b/w.jpg']);
      const paths = (dir: string) =>
        kids
          .get(dir)
          ?.map((e) => e.path)
          .sort();
      expect(paths('/')).toEqual(['/a', '/b', '/top.txt']);
      expect(paths('/a')).toEqual(['/a/c', '/a/x.mkv', '/a/y.txt']);
      expect(paths('/a/c')).toEqual(['/a/c/z.flac']);
      expect(kids.has('/b/w.jpg')).toBe(false);
      const listed = [];
      for await (const e of index.entries.list(scope, '/a')) listed.push(e.path);
      expect(listed).toEqual(['/a/c', '/a/x.mkv', '/a/y.txt']);

      const page = await index.queries.browse({ tenantId: 1, storageId: 1, dir: '/a' });
      expect(page.items.map((e) => e.path)).toEqual(['/a/c', '/a/x.mkv', '/a/y.txt']);
      const totals = await index.queries.du({ tenantId: 1, storageId: 1, dir: '/a', depth: 1 });
      expect(totals.map((t) => [t.path, t.files, t.dirs, t.bytes])).toEqual([
        ['/a', 3, 1, 30],
        ['/a/c', 1, 0, 10],
      ]);
    } finally {
      await index.close();
    }
  });

  it('reads a directory’s children through the hash, the parent tested on the row', async () => {
    db = await createDatabase('postgres');
    await postgresIndexAt(db.url, '013-time-steps', DIRS, FILES);
    const conn = connectPostgres(db.url, {});
    try {
      await migrateTo(conn, '015-parent-hash');
    } finally {
      await conn.close();
    }
    // 015's CHILDREN, as it read the stored parent (018 computes it: its own test).
    const children015 = `SELECT d, (SELECT string_agg(path, E'\\n') FROM entries
      WHERE storage_id = $1 AND tenant_id = $2
        AND hashtextextended(parent, 0) = hashtextextended(d, 0) AND parent = d)
      FROM unnest($3::text[]) AS d`;
    const plan = await withPg(db.url, async (c) => {
      // Enough directories, with statistics, that the planner has a choice to make.
      await c.query(`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
        SELECT 1, 1, '/d' || d || '/f' || f, '/d' || d, 'f' || f, 0, 1, 1
        FROM generate_series(1, 500) d, generate_series(1, 20) f`);
      await c.query('ANALYZE entries');
      const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${children015}`, [
        1,
        1,
        ['/a'],
      ]);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index Scan using entries_storage_parent_name/);
    expect(plan).toMatch(
      /Index Cond: .*hashtextextended\(parent, '0'::bigint\) = hashtextextended/,
    );
    expect(plan).toMatch(/Filter: .*parent = d\.d/);
  });
});
