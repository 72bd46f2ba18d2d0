/**
 * Orphans: rows written before their directory's row. A scan of roots below `/` writes its
 * root's row first (from the parent's listing), but a watch of an older version, or another
 * writer racing a listing, may write a directory's children before its row; on SQLite those
 * children keep `parent_id` NULL (migration 019) until the directory's row is written and
 * adopts them. Every read by parent must list them all the same, as PostgreSQL does (its
 * key is the parent's text): browse, find --parent, du, the scan's own children read. Both
 * dialects, the same expectations.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import type { App } from '../src/app.js';
import type { EntryRepository, EntryScope, EntryWrite, Removal } from '../src/db/entries.js';
import { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { mediaKindOf } from '../src/scan/media.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import {
  DIALECTS,
  createDatabase,
  memoryStorageScope,
  rowsWritten,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`orphans on ${dialect}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    /**
     * `/a/b`'s subtree written as its listings make it, by another writer: `/a/b` itself has
     * no row, its children are orphans.
     */
    async function scannedBelowRoot(): Promise<{ fx: MemoryFixture; scope: EntryScope }> {
      const database = await createDatabase(dialect);
      cleanups.push(() => database.drop());
      const tree = new MemoryTree()
        .writeFile('/a/b/x.mp3', 30, 1000)
        .writeFile('/a/b/sub/y.mp3', 20, 2000)
        .writeFile('/a/b/sub/deep/z.txt', 10, 3000)
        .writeFile('/a/other.txt', 5, 4000);
      const fx = await memoryFixture({ database: database.url, tree });
      cleanups.push(() => fx.close());
      const scope = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
      const storage = await fx.app.storage.open(fx.storage.id);
      const writes: EntryWrite[] = [];
      for (const dir of ['/a/b', '/a/b/sub', '/a/b/sub/deep']) {
        for await (const page of storage.list(dir)) {
          for (const e of page) {
            const mediaKind = e.isDir ? null : mediaKindOf(e.name);
            writes.push({ ...e, parent: dir, etag: e.etag ?? null, mediaKind });
          }
        }
      }
      await fx.app.index.entries.apply(scope, [], writes);
      expect((await fx.indexed()).map((e) => e.path)).toEqual([
        '/a/b/sub',
        '/a/b/sub/deep',
        '/a/b/sub/deep/z.txt',
        '/a/b/sub/y.mp3',
        '/a/b/x.mp3',
      ]);
      return { fx, scope };
    }

    async function rescan(app: App, fx: MemoryFixture, scope: EntryScope) {
      const storage = await app.storage.open(fx.storage.id);
      return scan({ storage, entries: app.index.entries }, scope, { roots: ['/a/b'] });
    }

    it("lists a directory's orphans in browse, whatever the order", async () => {
      const { fx, scope } = await scannedBelowRoot();
      const q = { ...scope, dir: '/a/b' };
      for (const sort of ['name', 'size', 'mtime'] as const) {
        const page = await fx.app.index.queries.browse({ ...q, sort });
        expect(page.items.map((e) => e.path)).toEqual(['/a/b/sub', '/a/b/x.mp3']);
      }
      // Paged one at a time: the cursor carries over from the directories to the files.
      const first = await fx.app.index.queries.browse({ ...q, limit: 1 });
      expect(first.items.map((e) => e.path)).toEqual(['/a/b/sub']);
      const second = await fx.app.index.queries.browse({ ...q, limit: 1, cursor: first.next! });
      expect(second.items.map((e) => e.path)).toEqual(['/a/b/x.mp3']);
      // A directory with a row lists its children as before.
      const sub = await fx.app.index.queries.browse({ ...scope, dir: '/a/b/sub' });
      expect(sub.items.map((e) => e.path)).toEqual(['/a/b/sub/deep', '/a/b/sub/y.mp3']);
      // No other directory's orphans: `/a` (no row either) has none of its own.
      const a = await fx.app.index.queries.browse({ ...scope, dir: '/a' });
      expect(a.items).toEqual([]);
    });

    it("finds a directory's orphans by --parent", async () => {
      const { fx, scope } = await scannedBelowRoot();
      const found = async (q: Record<string, unknown>) => {
        const out: string[] = [];
        for await (const e of fx.app.index.queries.find({ ...scope, ...q })) out.push(e.path);
        return out.sort();
      };
      expect(await found({ parent: '/a/b' })).toEqual(['/a/b/sub', '/a/b/x.mp3']);
      // In each order `trawl ls` asks for.
      for (const sort of ['path', 'name', 'size', 'mtime']) {
        expect(await found({ parent: '/a/b', sort })).toEqual(['/a/b/sub', '/a/b/x.mp3']);
      }
      expect(await found({ parent: '/a/b', isDir: false })).toEqual(['/a/b/x.mp3']);
      expect(await found({ parent: '/a/b', name: '*.mp3' })).toEqual(['/a/b/x.mp3']);
      expect(await found({ parent: '/a/b', minSize: 1 })).toEqual(['/a/b/x.mp3']);
      expect(await found({ parent: '/a' })).toEqual([]);
    });

    it('totals and walks down into orphan directories in du', async () => {
      const { fx, scope } = await scannedBelowRoot();
      const totals = await fx.app.index.queries.du({ ...scope, dir: '/a/b', depth: 2 });
      expect(totals.map((t) => [t.path, t.files, t.dirs, t.bytes])).toEqual([
        ['/a/b', 3, 2, 60],
        ['/a/b/sub', 2, 1, 30],
        ['/a/b/sub/deep', 1, 0, 10],
      ]);
    });

    it('reads the orphans as children in the scan: none written again, deletions found', async () => {
      const { fx, scope } = await scannedBelowRoot();
      const kids = await fx.app.index.entries.childrenOf(scope, ['/a/b']);
      expect(
        kids
          .get('/a/b')!
          .map((e) => e.path)
          .sort(),
      ).toEqual(['/a/b/sub', '/a/b/x.mp3']);
      // A whole scan reads them as `/a/b`'s children once it writes `/a/b`'s row: no child
      // written again, and then nothing at all.
      const whole = async () => {
        const storage = await fx.app.storage.open(fx.storage.id);
        return scan({ storage, entries: fx.app.index.entries }, scope, {});
      };
      const first = await whole();
      expect([first.created, first.updated]).toEqual([1, 0]);
      expect(await rowsWritten(fx.app.index, whole)).toBe(0);
      // A removed one is deleted, with nothing else.
      fx.tree.remove('/a/b/x.mp3');
      const result = await rescan(fx.app, fx, scope);
      expect(result.status).toBe('succeeded');
      expect(result.deleted).toBe(1);
      expect((await fx.indexed()).map((e) => e.path)).toEqual([
        '/a',
        '/a/b',
        '/a/b/sub',
        '/a/b/sub/deep',
        '/a/b/sub/deep/z.txt',
        '/a/b/sub/y.mp3',
        '/a/other.txt',
      ]);
    });

    it('keeps the children a watch wrote under a file that became a directory', async () => {
      const database = await createDatabase(dialect);
      cleanups.push(() => database.drop());
      const tree = new MemoryTree().writeFile('/d/c.txt', 7, 1000).writeFile('/e.txt', 1, 1000);
      const fx = await memoryFixture({ database: database.url, tree });
      cleanups.push(() => fx.close());
      const scope = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
      const entry = (path: string, isDir: boolean, size: number): EntryWrite => ({
        path,
        parent: parentOf(path),
        name: baseName(path),
        isDir,
        size,
        mtime: 1000,
        etag: null,
        mediaKind: null,
      });
      // `/d` indexed as a file; then, a directory now, its child written by a watch that
      // listed `/d` before anything listed `/` again.
      await fx.app.index.entries.apply(scope, [], [entry('/d', false, 3)]);
      await fx.app.index.entries.apply(scope, [], [entry('/d/c.txt', false, 7)]);
      const whole = async () => {
        const storage = await fx.app.storage.open(fx.storage.id);
        return scan({ storage, entries: fx.app.index.entries }, scope, {});
      };
      // The scan replaces `/d`'s row (a file's row removed, a directory's written).
      expect((await whole()).status).toBe('succeeded');
      const kids = await fx.app.index.entries.childrenOf(scope, ['/d']);
      expect(kids.get('/d')!.map((e) => e.path)).toEqual(['/d/c.txt']);
      const page = await fx.app.index.queries.browse({ ...scope, dir: '/d' });
      expect(page.items.map((e) => e.path)).toEqual(['/d/c.txt']);
      expect(await rowsWritten(fx.app.index, whole)).toBe(0);
      // Its removal is found: the scan reads it among `/d`'s children.
      fx.tree.remove('/d/c.txt');
      const result = await whole();
      expect(result.deleted).toBe(1);
      expect((await fx.indexed()).map((e) => e.path)).toEqual(['/d', '/e.txt']);
    });
  });
}

/**
 * Every write order the repository can be given, as overlapping scans and a watch give it
 * (a child before its directory, a file turned directory and back, a removal whose kind was
 * read before another writer changed it): after each batch, each path's children as the
 * scan reads them (`childrenOf`) and as browse lists them are exactly the rows below it by
 * path — whatever `parent_id` each row was given when it was written.
 */
// SQLite twice: writing on the caller's thread, and through the writer thread from the first
// row (the writer runs there from its source text).
for (const [dialect, thread] of [
  ...DIALECTS.map((d) => [d, false] as const),
  ['sqlite', true] as const,
]) {
  const name = thread ? `${dialect}, writer thread` : dialect;
  describe.skipIf(await skipDialect(dialect))(`children by parent on ${name}`, () => {
    let database: TestDatabase;
    let index: Index;
    afterEach(async () => {
      if (thread) await (index?.entries as SqliteEntryRepository | undefined)?.close();
      await index?.close();
      await database?.drop();
    });

    it('finds every row under its parent after any sequence of batches', async () => {
      database = await createDatabase(dialect);
      index = await openIndex(database.url);
      const scope = await memoryStorageScope(index);
      if (thread) {
        const raw = (index.entries as SqliteEntryRepository).database;
        const plan = { file: database.url, busyTimeoutMs: 5000, afterRows: 0 };
        (index as { entries: EntryRepository }).entries = new SqliteEntryRepository(
          raw,
          undefined,
          plan,
        );
      }
      const paths: string[] = [];
      for (const a of ['a', 'b', 'c']) {
        paths.push(`/${a}`);
        for (const b of ['a', 'b', 'c']) {
          paths.push(`/${a}/${b}`);
          for (const c of ['a', 'b']) paths.push(`/${a}/${b}/${c}`);
        }
      }
      let seed = 12;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return Math.floor((seed / 2147483648) * n);
      };
      const pick = () => paths[random(paths.length)]!;
      for (let round = 0; round < 120; round++) {
        const removals: Removal[] = [];
        for (let i = random(3); i > 0; i--) removals.push({ path: pick(), isDir: random(2) === 1 });
        const writes = new Map<string, EntryWrite>();
        for (let i = 1 + random(6); i > 0; i--) {
          const path = pick();
          const isDir = random(3) > 0;
          writes.set(path, {
            path,
            parent: parentOf(path),
            name: baseName(path),
            isDir,
            size: isDir ? 0 : random(4),
            mtime: 1,
            etag: null,
            mediaKind: null,
            isNew: random(2) === 1,
          });
        }
        await index.entries.apply(scope, removals, [...writes.values()]);

        const rows: string[] = [];
        for await (const e of index.entries.list(scope, '/', { recursive: true })) {
          rows.push(e.path);
        }
        const dirs = ['/', ...paths];
        const expected = (dir: string) => rows.filter((p) => parentOf(p) === dir).sort();
        const kids = await index.entries.childrenOf(scope, dirs);
        for (const dir of dirs) {
          const read = (kids.get(dir) ?? []).map((e) => e.path).sort();
          expect({ round, dir, read }).toEqual({ round, dir, read: expected(dir) });
        }
        if (round % 10 === 9) {
          for (const dir of dirs) {
            const page = await index.queries.browse({ ...scope, dir, limit: 100 });
            const read = page.items.map((e) => e.path).sort();
            expect({ round, dir, browse: read }).toEqual({ round, dir, browse: expected(dir) });
          }
        }
      }
    });
  });
}
