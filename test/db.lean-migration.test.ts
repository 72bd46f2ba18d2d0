import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Dialect } from '../src/db/dialect.js';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { createQueries } from '../src/db/queries/index.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { NameIndexBacklog } from '../src/db/sqlite/name-index.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import {
  createDatabase,
  DIALECTS,
  memoryStorageScope,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';
import { migrateTo, seedStorage } from './support/older-index.js';

const OLD = ['/Music', '/Music/Ein Fötus.flac', '/Music/ÉTÉ indien.mp3', '/Music/plain.mp3'];

function write(path: string, isDir = false): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir,
    size: isDir ? 0 : 10,
    mtime: 1,
    etag: null,
    mediaKind: null,
  };
}

/** An index as trawl 006 left it: migrated to 006, its entries written by 006's triggers. */
async function index006(dialect: Dialect, url: string): Promise<void> {
  const conn =
    dialect === 'sqlite' ? await connectSqlite(url, { prebuilt: false }) : connectPostgres(url, {});
  try {
    await migrateTo(conn, '006-search');
    await seedStorage(conn.db);
    for (const path of OLD) {
      const w = write(path, path === '/Music');
      await sql`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
        VALUES (1, 1, ${w.path}, ${w.parent}, ${w.name}, ${w.isDir ? 1 : 0}, ${w.size}, 1)`.execute(
        conn.db,
      );
    }
  } finally {
    await conn.close();
  }
}

async function indexNames(index: Index): Promise<string[]> {
  const { rows } =
    index.dialect === 'postgres'
      ? await sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes
          WHERE tablename = 'entries'`.execute(index.db)
      : await sql<{ name: string }>`SELECT name FROM sqlite_master
          WHERE type = 'index' AND tbl_name = 'entries'`.execute(index.db);
  return rows.map((r) => r.name);
}

async function found(index: Index, name: string): Promise<string[]> {
  const page = await index.queries.search({ tenantId: 1, name, sort: 'name' });
  return page.items.map((e) => e.path);
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`migration 007 on ${dialect}`, () => {
    let db: TestDatabase | undefined;
    afterEach(async () => {
      await db?.drop();
      db = undefined;
    });

    it('carries a 006 index over without a rescan: searches, browses, removes, adds', async () => {
      db = await createDatabase(dialect);
      await index006(dialect, db.url);
      const index = await openIndex(db.url);
      try {
        const names = await indexNames(index);
        expect(names).not.toContain('entries_storage_parent');
        // SQLite's children index keys the parent's id since 019.
        expect(names).toContain(
          dialect === 'sqlite' ? 'entries_parent_name' : 'entries_storage_parent_name',
        );
        // The rows 006 indexed are found as before, case folded.
        expect(await found(index, 'fötus')).toEqual(['/Music/Ein Fötus.flac']);
        expect(await found(index, 'été')).toEqual(['/Music/ÉTÉ indien.mp3']);
        expect(await found(index, '.mp3')).toEqual(['/Music/plain.mp3', '/Music/ÉTÉ indien.mp3']);
        const children = await index.queries.browse({ tenantId: 1, storageId: 1, dir: '/Music' });
        expect(children.items.map((e) => e.name)).toEqual([
          'Ein Fötus.flac',
          'plain.mp3',
          'ÉTÉ indien.mp3',
        ]);
        // A removal takes an old row out of the name index; a new row goes in.
        const scope = { tenantId: 1, storageId: 1 };
        const done = await index.entries.apply(
          scope,
          [{ path: '/Music/plain.mp3', isDir: false }],
          [write('/Music/new café.mp3')],
        );
        expect(done.deleted).toHaveLength(1);
        expect(done.created).toHaveLength(1);
        expect(await found(index, '.mp3')).toEqual([
          '/Music/new café.mp3',
          '/Music/ÉTÉ indien.mp3',
        ]);
        expect(await found(index, 'CAFÉ')).toEqual(['/Music/new café.mp3']);
        expect(await found(index, 'plain')).toEqual([]);
        const map = await index.entries.childrenOf(scope, ['/', '/Music']);
        expect(map.get('/')?.map((e) => e.path)).toEqual(['/Music']);
        // childrenOf promises no order (PostgreSQL's packed read aggregates as rows come).
        expect(
          map
            .get('/Music')
            ?.map((e) => e.path)
            .sort(),
        ).toEqual(['/Music/Ein Fötus.flac', '/Music/new café.mp3', '/Music/ÉTÉ indien.mp3']);
        if (dialect === 'sqlite') {
          // Every row 006 indexed is below the mark; the new one was added before the search.
          const { rows } = await sql<{ upto: number; last: number }>`
            SELECT upto, (SELECT max(id) FROM entries) AS last FROM search_watermark`.execute(
            index.db,
          );
          expect(rows[0]!.upto).toBe(rows[0]!.last);
          const { rows: fts } = await sql<{ n: number }>`SELECT count(*) AS n
            FROM entries_name_fts WHERE entries_name_fts MATCH '"mp3"'`.execute(index.db);
          expect(fts[0]!.n).toBe(2);
        }
      } finally {
        await index.close();
      }
    });
  });
}

describe('the SQLite name index, kept up in bulk', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  async function pending(index: Index): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT (SELECT max(id) FROM entries) - upto AS n FROM search_watermark`.execute(index.db);
    return rows[0]!.n;
  }

  it('lets a writer leave a bounded backlog, and searches it exactly before and after', async () => {
    db = await createDatabase('sqlite');
    const index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    const { tenantId, storageId } = scope;
    const raw = (index.entries as SqliteEntryRepository).database;
    const writer = new SqliteEntryRepository(raw, new NameIndexBacklog(raw, 10));
    try {
      const many = Array.from({ length: 25 }, (_, i) => write(`/d/file ${i}.txt`));
      await writer.apply(scope, [], [write('/d', true), ...many]);
      // 26 rows reached the limit of 10: the batch added them all.
      expect(await pending(index)).toBe(0);
      await writer.apply(scope, [], [write('/d/Ein Fötus.txt'), write('/d/İstanbul ΣΟΦΙΑΣ.txt')]);
      await writer.apply(scope, [], [write('/d/gone.txt')]);
      expect(await pending(index)).toBe(3);
      // A row removed before it was indexed never reaches the index.
      await writer.apply(scope, [{ path: '/d/gone.txt', isDir: false }], []);
      // Queries that may not write (no catch-up) test the backlog row by row.
      const readOnly = createQueries(index.db, 'sqlite');
      const search = async (name: string, queries = readOnly) =>
        (await queries.search({ tenantId, name, sort: 'name' })).items.map((e) => e.name);
      // As FTS5 folds: σ and final ς alike, İ not to i (JavaScript's lower case differs).
      const needles = ['FÖTUS', 'stanbul', 'istanbul', 'σοφια', 'οφιας', 'gone', 'file 1', 'TXT'];
      const before = [];
      for (const needle of needles) before.push(await search(needle));
      expect(before.slice(0, 6)).toEqual([
        ['Ein Fötus.txt'],
        ['İstanbul ΣΟΦΙΑΣ.txt'],
        [],
        ['İstanbul ΣΟΦΙΑΣ.txt'],
        ['İstanbul ΣΟΦΙΑΣ.txt'],
        [],
      ]);
      expect(before[6]).toHaveLength(11);
      const found = [];
      for await (const e of readOnly.find({ tenantId, storageId, name: '*fötus*' })) {
        found.push(e.name);
      }
      expect(found).toEqual(['Ein Fötus.txt']);
      // Nothing was added (the removed row was the last id).
      expect(await pending(index)).toBe(2);
      // The index's own queries add the backlog first, and find exactly the same.
      expect(await search('FÖTUS', index.queries)).toEqual(['Ein Fötus.txt']);
      expect(await pending(index)).toBe(0);
      const after = [];
      for (const needle of needles) after.push(await search(needle, index.queries));
      expect(after).toEqual(before);
      const { rows } = await sql<{ n: number }>`SELECT count(*) AS n
        FROM entries_name_fts WHERE entries_name_fts MATCH '"gon" AND "one"'`.execute(index.db);
      expect(rows[0]!.n).toBe(0);
      // Rows written last are added when the index closes.
      await writer.apply(scope, [], [write('/d/last.txt')]);
      // Ids span the removed row's too (AUTOINCREMENT never reuses it).
      expect(await pending(index)).toBe(2);
    } finally {
      await index.close();
    }
    const again = await openIndex(db.url);
    try {
      expect(await pending(again)).toBe(0);
      const page = await again.queries.search({ tenantId, name: 'last' });
      expect(page.items.map((e) => e.path)).toEqual(['/d/last.txt']);
    } finally {
      await again.close();
    }
  });
});
