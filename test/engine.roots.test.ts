import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

describe('scan roots below /', () => {
  let fx: MemoryFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  async function scanRoots(tree: MemoryTree, roots: string[], maxDepth = Infinity) {
    fx = await memoryFixture({ tree });
    const { app, storage } = fx;
    const handle = await app.storage.open(storage.id);
    const scope = { tenantId: storage.tenantId, storageId: storage.id };
    const result = await scan({ storage: handle, entries: app.index.entries }, scope, {
      roots,
      maxDepth,
    });
    return { result, paths: (await fx.indexed()).map((e) => e.path) };
  }

  it('reconciles only the subtrees of its roots', async () => {
    const tree = new MemoryTree()
      .writeFile('/a/b/x.mp3', 1)
      .writeFile('/a/c/y.mp3', 1)
      .writeFile('/d/z.mp3', 1)
      .writeFile('/d/e/w.mp3', 1);
    const { result, paths } = await scanRoots(tree, ['/a/b', '/d'], 1);
    expect(result.status).toBe('succeeded');
    expect(paths).toEqual(['/a/b/x.mp3', '/d/e', '/d/z.mp3']);
  });

  it('applies the marker files of the directories above a root', async () => {
    const tree = new MemoryTree()
      .writeText('/a/.trawlignore', '*.tmp\n')
      .writeFile('/a/b/c/x.tmp', 1)
      .writeFile('/a/b/c/y.jpg', 1);
    const { result, paths } = await scanRoots(tree, ['/a/b']);
    expect(result.status).toBe('succeeded');
    expect(paths).toEqual(['/a/b/c', '/a/b/c/y.jpg']);
  });

  it('lists no root that lies under an excluded directory', async () => {
    const tree = new MemoryTree()
      .writeFile('/private/.nomedia', 0)
      .writeFile('/private/sub/x.jpg', 1)
      .writeFile('/open/y.jpg', 1);
    const { result, paths } = await scanRoots(tree, ['/private/sub', '/open']);
    expect(result.status).toBe('succeeded');
    expect(paths).toEqual(['/open/y.jpg']);
  });
});
