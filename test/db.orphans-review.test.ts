/**
 * Orphans under review: two storages of one index, each with orphans at the same paths (a
 * scan of `/a/b` as a root). Every read by parent of one storage returns its own rows once,
 * never the other's — browse, find --parent, du, the scan's children read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import type { EntryScope } from '../src/db/entries.js';
import { DIALECTS, createDatabase, skipDialect } from './support/databases.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`orphans of two storages on ${dialect}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    async function below(database: string, size: number) {
      const tree = new MemoryTree()
        .writeFile('/a/b/x.mp3', size, 1000)
        .writeFile('/a/b/sub/y.mp3', size, 2000);
      const fx = await memoryFixture({ database, tree });
      cleanups.push(() => fx.close());
      const scope: EntryScope = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
      const storage = await fx.app.storage.open(fx.storage.id);
      const r = await scan({ storage, entries: fx.app.index.entries }, scope, { roots: ['/a/b'] });
      expect(r.status).toBe('succeeded');
      return { fx, scope };
    }

    it("reads by parent return one storage's orphans once, never another's", async () => {
      const database = await createDatabase(dialect);
      cleanups.push(() => database.drop());
      const one = await below(database.url, 10);
      const two = await below(database.url, 7);
      for (const [{ fx, scope }, size] of [
        [one, 10],
        [two, 7],
      ] as [{ fx: MemoryFixture; scope: EntryScope }, number][]) {
        const q = fx.app.index.queries;
        const page = await q.browse({ ...scope, dir: '/a/b' });
        expect(page.items.map((e) => [e.path, e.size])).toEqual([
          ['/a/b/sub', 0],
          ['/a/b/x.mp3', size],
        ]);
        const found: string[] = [];
        for await (const e of q.find({ ...scope, parent: '/a/b/sub' }))
          found.push(`${e.path}:${e.size}`);
        expect(found).toEqual([`/a/b/sub/y.mp3:${size}`]);
        const totals = await q.du({ ...scope, dir: '/a/b', depth: 2 });
        expect(totals.map((t) => [t.path, t.files, t.dirs, t.bytes])).toEqual([
          ['/a/b', 2, 1, 2 * size],
          ['/a/b/sub', 1, 0, size],
        ]);
        const kids = await fx.app.index.entries.childrenOf(scope, ['/a/b', '/a/b/sub']);
        expect(
          kids
            .get('/a/b')!
            .map((e) => e.size)
            .sort(),
        ).toEqual([0, size].sort());
        expect(kids.get('/a/b/sub')!.map((e) => e.size)).toEqual([size]);
      }
    });
  });
}
