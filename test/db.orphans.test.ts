/**
 * Orphans: rows written before their directory's row. A scan of roots below `/` writes the
 * children of its root and never the root's own row (its parent's listing is not read), so
 * on SQLite those children keep `parent_id` NULL (migration 019) until the directory's row
 * is written and adopts them. Every read by parent must list them all the same, as
 * PostgreSQL does (its key is the parent's text): browse, find --parent, du, the scan's own
 * children read. Both dialects, the same expectations.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import type { App } from '../src/app.js';
import type { EntryScope } from '../src/db/entries.js';
import { DIALECTS, createDatabase, rowsWritten, skipDialect } from './support/databases.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`orphans on ${dialect}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    /** `/a/b` scanned as a root: `/a/b` itself has no row, its children are orphans. */
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
      const result = await rescan(fx.app, fx, scope);
      expect(result.status).toBe('succeeded');
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
      const second = await fx.app.index.queries.browse({ ...q, limit: 1, cursor: first.next });
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

    it('reads the orphans as children in the scan: no write on a rescan, deletions found', async () => {
      const { fx, scope } = await scannedBelowRoot();
      const kids = await fx.app.index.entries.childrenOf(scope, ['/a/b']);
      expect(
        kids
          .get('/a/b')!
          .map((e) => e.path)
          .sort(),
      ).toEqual(['/a/b/sub', '/a/b/x.mp3']);
      // Unchanged: 0 rows written (an orphan the read missed would be written again).
      expect(await rowsWritten(fx.app.index, () => rescan(fx.app, fx, scope))).toBe(0);
      // A removed orphan is deleted, with nothing else.
      fx.tree.remove('/a/b/x.mp3');
      const result = await rescan(fx.app, fx, scope);
      expect(result.status).toBe('succeeded');
      expect(result.deleted).toBe(1);
      expect((await fx.indexed()).map((e) => e.path)).toEqual([
        '/a/b/sub',
        '/a/b/sub/deep',
        '/a/b/sub/deep/z.txt',
        '/a/b/sub/y.mp3',
      ]);
    });
  });
}
