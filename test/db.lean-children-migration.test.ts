/**
 * Migration 020 on PostgreSQL: the children index keys (storage_id, hash of the parent,
 * is_dir) only, so that B-tree deduplication stores a directory's key once, and the table
 * fills its pages. An index written by 018 is carried over without a rescan: its children,
 * browse (in name order now sorted rather than read from the index, page after page), find
 * and rows written afterwards are as before.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { find } from '../src/db/queries/find.js';
import type { BrowseQuery } from '../src/db/queries/types.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { createDatabase, skipDialect, withPg, type TestDatabase } from './support/databases.js';
import { postgresIndexAt } from './support/older-index.js';

const DIRS = ['/a', '/a/c', '/a/B', '/b'];
// Not in name order, so that an order read from insertion or from the heap would show.
const FILES = ['/a/z.txt', '/a/Ä.mkv', '/a/m.txt', '/a/a.txt', '/a/_.txt', '/b/w.jpg', '/top.txt'];
// Directories first, then files, bytewise (as paths sort): upper case before `_` before
// lower case before multi-byte.
const A_BY_NAME = ['/a/B', '/a/c', '/a/_.txt', '/a/a.txt', '/a/m.txt', '/a/z.txt', '/a/Ä.mkv'];

function file(path: string, isNew: boolean): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir: false,
    size: 5,
    mtime: 2,
    etag: null,
    mediaKind: null,
    isNew,
  };
}

/** Every page of a browse, two entries a page. */
async function browseAll(index: Index, q: Omit<BrowseQuery, 'limit' | 'cursor'>) {
  const paths: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await index.queries.browse({ ...q, limit: 2, cursor });
    paths.push(...page.items.map((e) => e.path));
    if (page.next === null) return paths;
    cursor = page.next;
  }
}

describe.skipIf(await skipDialect('postgres'))('migration 020 on postgres', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('carries an 018 index over without a rescan, a directory browsed in name order', async () => {
    db = await createDatabase('postgres');
    await postgresIndexAt(db.url, '018-computed-parent', DIRS, FILES);
    const index = await openIndex(db.url);
    try {
      const { rows } = await sql<{ def: string; options: string[] | null }>`SELECT
          pg_get_indexdef('entries_storage_parent_name'::regclass) AS def,
          (SELECT reloptions FROM pg_class WHERE oid = 'entries'::regclass) AS options`.execute(
        index.db,
      );
      expect(rows[0]!.def).toMatch(/\(storage_id, hashtextextended\(.*, is_dir\)$/);
      expect(rows[0]!.def).not.toMatch(/COLLATE|\bid\b/);
      expect(rows[0]!.options).toEqual(['fillfactor=100']);

      const scope = { tenantId: 1, storageId: 1 };
      const children = async () => {
        const kids = await index.entries.childrenOf(scope, ['/', '/a', '/b']);
        return new Map([...kids].map(([d, es]) => [d, es.map((e) => e.path).sort()]));
      };
      expect(await children()).toEqual(
        new Map([
          ['/', ['/a', '/b', '/top.txt']],
          ['/a', [...A_BY_NAME].sort()],
          ['/b', ['/b/w.jpg']],
        ]),
      );
      const q = { tenantId: 1, storageId: 1, dir: '/a' };
      expect(await browseAll(index, q)).toEqual(A_BY_NAME);
      expect(await browseAll(index, { ...q, order: 'desc' })).toEqual([
        ...A_BY_NAME.slice(0, 2).reverse(),
        ...A_BY_NAME.slice(2).reverse(),
      ]);
      const found = [];
      for await (const e of find(index.db, index.dialect, {
        tenantId: 1,
        storageId: 1,
        parent: '/a',
      })) {
        found.push(e.path);
      }
      expect(found.sort()).toEqual([...A_BY_NAME].sort());

      // Written after the migration, by COPY (new) and by the upsert (changed).
      const done = await index.entries.apply(
        scope,
        [],
        [file('/a/b.txt', true), file('/a/m.txt', false)],
      );
      expect([done.created.length, done.updated.length]).toEqual([1, 1]);
      expect(await browseAll(index, q)).toEqual([
        ...A_BY_NAME.slice(0, 3),
        '/a/a.txt',
        '/a/b.txt',
        ...A_BY_NAME.slice(4),
      ]);
    } finally {
      await index.close();
    }
  });

  it('stores a directory’s key once for all its children of a type', async () => {
    db = await createDatabase('postgres');
    const index = await openIndex(db.url);
    await index.close();
    const bytes = await withPg(db.url, async (c) => {
      await c.query(`INSERT INTO tenants (name, created_at) VALUES ('default', 0)`);
      await c.query(`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
        SELECT 1, 1, '/d/f' || f, 'f' || f, 0, 1, 1 FROM generate_series(1, 20000) f`);
      const { rows } = await c.query<{ n: string }>(
        `SELECT pg_relation_size('entries_storage_parent_name') AS n`,
      );
      return Number(rows[0]!.n);
    });
    // One tuple an entry (8 bytes of header, 18 of key, aligned, and its line pointer) would
    // take 36 bytes an entry; deduplicated, each entry is a 6-byte heap address in a list.
    expect(bytes / 20_000).toBeLessThan(12);
  });
});
