import { afterEach, describe, expect, it } from 'vitest';
import { scan, type ScanOptions } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { DIALECTS, createDatabase, rowsWritten, skipDialect } from './support/databases.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`scan roots below / (${dialect})`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    async function fixture(tree: MemoryTree): Promise<MemoryFixture> {
      const database = await createDatabase(dialect);
      cleanups.push(() => database.drop());
      const fx = await memoryFixture({ database: database.url, tree });
      cleanups.push(() => fx.close());
      return fx;
    }

    async function scanOf(fx: MemoryFixture, options: ScanOptions = {}) {
      const { app, storage } = fx;
      const handle = await app.storage.open(storage.id);
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      return scan({ storage: handle, entries: app.index.entries }, scope, options);
    }

    async function scanRoots(tree: MemoryTree, roots: string[], maxDepth = Infinity) {
      const fx = await fixture(tree);
      const result = await scanOf(fx, { roots, maxDepth });
      return { result, paths: (await fx.indexed()).map((e) => e.path) };
    }

    const rows = async (fx: MemoryFixture) =>
      (await fx.indexed()).map((e) => `${e.path}|${e.isDir ? 'd' : 'f'}|${e.size}|${e.mtime}`);

    it('reconciles only the subtrees of its roots, and writes the rows of the roots', async () => {
      const tree = new MemoryTree()
        .writeFile('/a/b/x.mp3', 1)
        .writeFile('/a/c/y.mp3', 1)
        .writeFile('/d/z.mp3', 1)
        .writeFile('/d/e/w.mp3', 1);
      const { result, paths } = await scanRoots(tree, ['/a/b', '/d'], 1);
      expect(result.status).toBe('succeeded');
      expect(paths).toEqual(['/a/b', '/a/b/x.mp3', '/d', '/d/e', '/d/z.mp3']);
    });

    it('applies the marker files of the directories above a root', async () => {
      const tree = new MemoryTree()
        .writeText('/a/.trawlignore', '*.tmp\n')
        .writeFile('/a/b/c/x.tmp', 1)
        .writeFile('/a/b/c/y.jpg', 1);
      const { result, paths } = await scanRoots(tree, ['/a/b']);
      expect(result.status).toBe('succeeded');
      expect(paths).toEqual(['/a/b', '/a/b/c', '/a/b/c/y.jpg']);
    });

    it('lists no root that lies under an excluded directory', async () => {
      const tree = new MemoryTree()
        .writeFile('/private/.nomedia', 0)
        .writeFile('/private/sub/x.jpg', 1)
        .writeFile('/open/y.jpg', 1);
      const { result, paths } = await scanRoots(tree, ['/private/sub', '/open']);
      expect(result.status).toBe('succeeded');
      expect(paths).toEqual(['/open', '/open/y.jpg']);
    });

    it('writes a root the index holds as a file as a directory first: no rows left once it is a file again', async () => {
      const tree = new MemoryTree()
        .writeFile('/c/four', 4, 1000)
        .writeFile('/c/three.png', 3, 1000);
      const fx = await fixture(tree);
      await scanOf(fx);
      tree.remove('/c/four').mkdir('/c/four', 2000).writeFile('/c/four/inner.txt', 2, 3000);
      const sub = await scanOf(fx, { roots: ['/c/four'] });
      expect(sub.status).toBe('succeeded');
      // The file's row replaced by the directory's, as `/c`'s own listing would.
      expect(await rows(fx)).toEqual([
        '/c|d|0|0',
        '/c/four|d|0|2000',
        '/c/four/inner.txt|f|2|3000',
        '/c/three.png|f|3|1000',
      ]);
      expect([sub.deleted, sub.files, sub.dirs]).toEqual([1, 1, 1]);
      // Found a directory again: nothing more to write.
      expect(await rowsWritten(fx.app.index, () => scanOf(fx, { roots: ['/c/four'] }))).toBe(0);
      // A file again: the next whole scan removes the directory with its subtree.
      tree.remove('/c/four').writeFile('/c/four', 2, 4000);
      await scanOf(fx);
      expect(await rows(fx)).toEqual(['/c|d|0|0', '/c/four|f|2|4000', '/c/three.png|f|3|1000']);
    });

    it('lists no root whose parent cannot be listed when the index does not hold it as a directory', async () => {
      const tree = new MemoryTree().writeFile('/c/four', 4, 1000);
      const fx = await fixture(tree);
      await scanOf(fx);
      tree
        .remove('/c/four')
        .writeFile('/c/four/inner.txt', 2, 3000)
        .failDir('/c', 'PERMISSION_DENIED');
      const sub = await scanOf(fx, { roots: ['/c/four'] });
      expect(sub.status).toBe('failed');
      expect(sub.errorSample.map((e) => [e.path, e.code])).toEqual([
        ['/c/four', 'PERMISSION_DENIED'],
      ]);
      expect(await rows(fx)).toEqual(['/c|d|0|0', '/c/four|f|4|1000']);
    });

    it('writes nothing for the root in a dry run', async () => {
      const tree = new MemoryTree().writeFile('/c/four', 4, 1000);
      const fx = await fixture(tree);
      await scanOf(fx);
      tree.remove('/c/four').writeFile('/c/four/inner.txt', 2, 3000);
      const dry = await scanOf(fx, { roots: ['/c/four'], dryRun: true });
      expect([dry.status, dry.deleted, dry.files, dry.dirs]).toEqual(['succeeded', 1, 1, 1]);
      expect(await rows(fx)).toEqual(['/c|d|0|0', '/c/four|f|4|1000']);
    });
  });
}
