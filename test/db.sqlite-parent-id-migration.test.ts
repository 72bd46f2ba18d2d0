/**
 * Migration 019 on SQLite: a row names its directory by the directory's row id
 * (`parent_id`, `-storage_id` at the root), the children index keys it, `name` is computed
 * from the path and its stored length, and the unique path key has no tenant. An index
 * written by 018 is carried over without a rescan: children, browse, find, du, stats and
 * search see the same as before, ids are never given twice, a directory's orphans (its
 * children written before it, by a scan of roots below `/`) are found and adopted, and rows
 * written afterwards join their directories.
 */
import { sql } from 'kysely';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { find } from '../src/db/queries/find.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { skipDialect } from './support/databases.js';
import { sqliteIndexAt } from './support/older-index.js';
import { tempDir } from './support/harness.js';

const DIRS = ['/a', '/a/c', '/b', '/ü', '/ü/日本'];
// `/lost` has no row: its file is an orphan (a watch's root below `/` wrote it first).
const FILES = [
  '/a/x.mkv',
  '/a/y.txt',
  '/a/c/z.flac',
  '/b/w.jpg',
  '/top.txt',
  '/ü/日本/é.txt',
  '/lost/o.txt',
];

function write(path: string, isDir: boolean, isNew: boolean): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir,
    size: isDir ? 0 : 5,
    mtime: 2,
    etag: null,
    mediaKind: null,
    isNew,
  };
}

describe.skipIf(await skipDialect('sqlite'))('migration 019 on sqlite', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function migrated(): Promise<{ index: Index; seq: number }> {
    const dir = tempDir('trawl-019-');
    cleanups.push(dir.cleanup);
    const file = join(dir.path, 'index.db');
    await sqliteIndexAt(file, '018-computed-parent', DIRS, [...FILES, '/gone.txt']);
    // The last id given was a row since removed: the counter is ahead of max(id).
    const before = await openIndexAt018(file);
    const index = await openIndex(file);
    cleanups.push(() => index.close());
    return { index, seq: before };
  }

  /** Removes 018's last row by hand and returns the AUTOINCREMENT counter it leaves. */
  async function openIndexAt018(file: string): Promise<number> {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    try {
      db.prepare(`DELETE FROM entries WHERE path = '/gone.txt'`).run();
      return db
        .prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'entries'`)
        .pluck()
        .get() as number;
    } finally {
      db.close();
    }
  }

  const scope = { tenantId: 1, storageId: 1 };
  const children = async (index: Index) => {
    const kids = await index.entries.childrenOf(scope, [
      '/',
      '/a',
      '/a/c',
      '/ü/日本',
      '/lost',
      '/b/w.jpg',
    ]);
    return new Map([...kids].map(([d, es]) => [d, es.map((e) => e.path).sort()]));
  };

  it('carries an 018 index over without a rescan: children, browse, find, du, stats, search', async () => {
    const { index, seq } = await migrated();
    const { rows } = await sql<{
      path: string;
      parent_id: number | null;
      name: string;
      parent: string;
    }>`
      SELECT e.path, p.path AS parent_id, e.name, e.parent FROM entries e
      LEFT JOIN entries p ON p.id = e.parent_id ORDER BY e.path`.execute(index.db);
    const { rows: roots } = await sql<{ path: string; parent_id: number | null }>`
      SELECT path, parent_id FROM entries WHERE parent_id < 0 OR parent_id IS NULL ORDER BY path`.execute(
      index.db,
    );
    // Each row's parent_id is its directory's row (by path), -1 at the root, NULL for the orphan.
    expect(roots).toEqual([
      { path: '/a', parent_id: -1 },
      { path: '/b', parent_id: -1 },
      { path: '/lost/o.txt', parent_id: null },
      { path: '/top.txt', parent_id: -1 },
      { path: '/ü', parent_id: -1 },
    ]);
    for (const r of rows) {
      expect(r.name).toBe(baseName(r.path));
      expect(r.parent).toBe(parentOf(r.path));
      if (r.parent !== '/' && r.path !== '/lost/o.txt') expect(r.parent_id).toBe(r.parent);
    }

    const before = new Map([
      ['/', ['/a', '/b', '/top.txt', '/ü']],
      ['/a', ['/a/c', '/a/x.mkv', '/a/y.txt']],
      ['/a/c', ['/a/c/z.flac']],
      ['/ü/日本', ['/ü/日本/é.txt']],
      ['/lost', ['/lost/o.txt']],
    ]);
    expect(await children(index)).toEqual(before);
    const page = await index.queries.browse({ tenantId: 1, storageId: 1, dir: '/a' });
    expect(page.items.map((e) => e.path)).toEqual(['/a/c', '/a/x.mkv', '/a/y.txt']);
    const root = await index.queries.browse({ tenantId: 1, storageId: 1, dir: '/' });
    // Directories first, then files, each by name.
    expect(root.items.map((e) => e.path)).toEqual(['/a', '/b', '/ü', '/top.txt']);
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
      ['/', 7, 5, 70],
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
      ['/lost', 1],
      ['/ü/日本', 1],
    ]);
    const search = await index.queries.search({ tenantId: 1, name: 'é.t' });
    expect(search.items.map((e) => e.path)).toEqual(['/ü/日本/é.txt']);

    // Written afterwards: a new file, a changed one, a new directory that adopts its orphan.
    const done = await index.entries.apply(
      scope,
      [],
      [
        write('/a/new.txt', false, true),
        write('/ü/日本/é.txt', false, false),
        write('/lost', true, true),
      ],
    );
    expect([done.created.length, done.updated.length]).toEqual([2, 1]);
    // No id given twice: the new rows come after the removed row's.
    expect(Math.min(...done.created.map((c) => c.id))).toBeGreaterThan(seq);
    const { rows: lost } = await sql<{ n: number }>`SELECT count(*) AS n FROM entries
      WHERE path = '/lost/o.txt' AND parent_id = (SELECT id FROM entries WHERE path = '/lost')`.execute(
      index.db,
    );
    expect(lost[0]!.n).toBe(1);
    const after = await children(index);
    expect(after.get('/')).toEqual(['/a', '/b', '/lost', '/top.txt', '/ü']);
    expect(after.get('/a')).toEqual(['/a/c', '/a/new.txt', '/a/x.mkv', '/a/y.txt']);
    expect(after.get('/lost')).toEqual(['/lost/o.txt']);
    const lostPage = await index.queries.browse({ tenantId: 1, storageId: 1, dir: '/lost' });
    expect(lostPage.items.map((e) => e.path)).toEqual(['/lost/o.txt']);
  });

  it('keeps one row per path without the tenant in the key', async () => {
    const { index } = await migrated();
    await expect(
      sql`INSERT INTO entries (tenant_id, storage_id, path, name_bytes, is_dir, size, mtime)
        VALUES (2, 1, '/a/y.txt', 5, 0, 1, 1)`.execute(index.db),
    ).rejects.toThrow(/UNIQUE/);
  });
});
