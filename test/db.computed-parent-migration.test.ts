/**
 * Migration 018 on PostgreSQL: `entries` no longer stores `parent`; every statement computes
 * it from path and name, and the children index keys the hash of that expression. An index
 * written by 015 is carried over without a rescan: children, browse, find, du and stats see
 * the same directories as before (multi-byte names included: the expression counts
 * characters), rows written afterwards join them, and the statements that read children are
 * still served by the index.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex } from '../src/db/open.js';
import { CHILDREN, LIST_CHILDREN } from '../src/db/postgres/statements.js';
import { find } from '../src/db/queries/find.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { createDatabase, skipDialect, withPg, type TestDatabase } from './support/databases.js';
import { postgresIndexAt } from './support/older-index.js';

const DIRS = ['/a', '/a/c', '/b', '/ü', '/ü/日本'];
const FILES = ['/a/x.mkv', '/a/y.txt', '/a/c/z.flac', '/b/w.jpg', '/top.txt', '/ü/日本/é.txt'];

function file(path: string, isNew: boolean): EntryWrite {
  const name = baseName(path);
  return {
    path,
    parent: parentOf(path),
    name,
    isDir: false,
    size: 5,
    mtime: 2,
    etag: null,
    mediaKind: null,
    isNew,
  };
}

describe.skipIf(await skipDialect('postgres'))('migration 018 on postgres', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('carries a 015 index over without a rescan, the parent computed from path and name', async () => {
    db = await createDatabase('postgres');
    await postgresIndexAt(db.url, '015-parent-hash', DIRS, FILES);
    const index = await openIndex(db.url);
    try {
      const { rows: cols } = await sql<{ n: number }>`SELECT count(*)::int AS n
        FROM information_schema.columns
        WHERE table_name = 'entries' AND table_schema = current_schema() AND column_name = 'parent'`.execute(
        index.db,
      );
      expect(cols[0]!.n).toBe(0);
      const scope = { tenantId: 1, storageId: 1 };
      const children = async () => {
        const kids = await index.entries.childrenOf(scope, [
          '/',
          '/a',
          '/a/c',
          '/ü/日本',
          '/b/w.jpg',
        ]);
        return new Map([...kids].map(([d, es]) => [d, es.map((e) => e.path).sort()]));
      };
      expect(await children()).toEqual(
        new Map([
          ['/', ['/a', '/b', '/top.txt', '/ü']],
          ['/a', ['/a/c', '/a/x.mkv', '/a/y.txt']],
          ['/a/c', ['/a/c/z.flac']],
          ['/ü/日本', ['/ü/日本/é.txt']],
        ]),
      );
      const listed = [];
      for await (const e of index.entries.list(scope, '/ü')) listed.push(e.path);
      expect(listed).toEqual(['/ü/日本']);

      const page = await index.queries.browse({ tenantId: 1, storageId: 1, dir: '/a' });
      expect(page.items.map((e) => e.path)).toEqual(['/a/c', '/a/x.mkv', '/a/y.txt']);
      const found = [];
      for await (const e of find(index.db, index.dialect, {
        tenantId: 1,
        storageId: 1,
        parent: '/ü/日本',
      })) {
        found.push(e.path);
      }
      expect(found).toEqual(['/ü/日本/é.txt']);
      const totals = await index.queries.du({ tenantId: 1, storageId: 1, dir: '/', depth: 1 });
      expect(totals.map((t) => [t.path, t.files, t.dirs, t.bytes])).toEqual([
        ['/', 6, 5, 60],
        ['/a', 3, 1, 30],
        ['/b', 1, 0, 10],
        ['/ü', 1, 1, 10],
      ]);
      const stats = await index.queries.stats({ tenantId: 1, storageId: 1 });
      expect(stats.largestDirs.map((d) => [d.path, d.files])).toEqual([
        ['/a', 2],
        ['/', 1],
        ['/a/c', 1],
        ['/b', 1],
        ['/ü/日本', 1],
      ]);

      // Written after the migration, by COPY (new) and by the upsert (changed): same children.
      const done = await index.entries.apply(
        scope,
        [],
        [file('/a/new.txt', true), file('/ü/日本/é.txt', false)],
      );
      expect([done.created.length, done.updated.length]).toEqual([1, 1]);
      expect((await children()).get('/a')).toEqual(['/a/c', '/a/new.txt', '/a/x.mkv', '/a/y.txt']);
      expect((await children()).get('/ü/日本')).toEqual(['/ü/日本/é.txt']);
    } finally {
      await index.close();
    }
  });

  it('reads a directory’s children through the hash of the computed parent', async () => {
    db = await createDatabase('postgres');
    await postgresIndexAt(db.url, '015-parent-hash', DIRS, FILES);
    const index = await openIndex(db.url);
    await index.close();
    const plans = await withPg(db.url, async (c) => {
      // Enough directories, with statistics, that the planner has a choice to make.
      await c.query(`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
        SELECT 1, 1, '/d' || d || '/f' || f, 'f' || f, 0, 1, 1
        FROM generate_series(1, 500) d, generate_series(1, 20) f`);
      await c.query('ANALYZE entries');
      const explain = async (text: string, values: unknown[]) => {
        const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, values);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      return [
        await explain(CHILDREN, [1, 1, ['/a']]),
        await explain(LIST_CHILDREN, [1, 1, '/a', '']),
      ];
    });
    for (const plan of plans) {
      expect(plan).toMatch(/Index Scan using entries_storage_parent_name/);
      expect(plan).toMatch(/Index Cond: .*hashtextextended\("left"\(path, GREATEST\(1, /);
    }
  });
});
