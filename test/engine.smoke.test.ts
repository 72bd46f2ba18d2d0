import { afterEach, describe, expect, it } from 'vitest';
import { memoryFixture, treeRows, indexRows, type MemoryFixture } from './support/harness.js';

describe('scan engine (smoke)', () => {
  let fx: MemoryFixture;
  afterEach(async () => fx?.close());

  it('indexes a small tree and rescans it without writes', async () => {
    fx = await memoryFixture();
    fx.tree.writeFile('/a/b/c.mkv', 10, 1000).writeFile('/a/d.txt', 5, 2000).mkdir('/empty');
    const first = await fx.app.scan(fx.storage);
    expect(first).toMatchObject({
      status: 'succeeded',
      dirs: 3,
      files: 2,
      mediaFiles: 1,
      created: 2,
      bytes: 15,
    });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
    const second = await fx.app.scan(fx.storage);
    expect(second).toMatchObject({
      status: 'succeeded',
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: 2,
    });
  });

  it('keeps a failing subtree and fails on a failing root', async () => {
    fx = await memoryFixture();
    fx.tree.writeFile('/a/b/c.mkv', 10, 1000).writeFile('/x/y.txt', 1, 1);
    await fx.app.scan(fx.storage);
    fx.tree.remove('/a/b/c.mkv').failDir('/a', 'PERMISSION_DENIED');
    const partial = await fx.app.scan(fx.storage);
    expect(partial.status).toBe('partial');
    expect(partial.errorSample[0]).toMatchObject({ path: '/a', code: 'PERMISSION_DENIED' });
    expect((await fx.indexed()).map((e) => e.path)).toContain('/a/b/c.mkv');
    fx.tree.clearFaults().failDir('/', 'UNAVAILABLE');
    fx.tree.remove('/x');
    const failed = await fx.app.scan(fx.storage);
    expect(failed.status).toBe('failed');
    expect((await fx.indexed()).map((e) => e.path)).toContain('/x/y.txt');
  });
});
