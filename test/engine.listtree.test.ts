import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { StorageError } from '../src/storage/errors.js';
import type { StorageHandle } from '../src/storage/service.js';
import type { TreeListing } from '../src/storage/types.js';
import { indexRows, treeRows } from './support/harness.js';
import { engineFixture, type EngineFixture } from './fixtures/engine.js';
import { listAll } from './support/list-all.js';

describe('scan engine: listTree capability', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  /** A handle whose listTree yields the memory tree breadth-first, failing where told. */
  function flatHandle(failAfter = Infinity) {
    const real = fx.app.storage.handle(fx.storage.id);
    const calls = { listTree: 0, list: 0 };
    const handle: StorageHandle = {
      storageId: real.storageId,
      check: () => real.check(),
      list: (dir, o) => {
        calls.list++;
        return real.list(dir, o);
      },
      async *listTree(root, o): AsyncIterable<TreeListing> {
        calls.listTree++;
        const queue = [root];
        let yielded = 0;
        while (queue.length > 0) {
          if (yielded === failAfter) {
            throw new StorageError('UNAVAILABLE', 'connection reset', { path: '/' });
          }
          const dir = queue.shift()!;
          const entries = await listAll(real.list(dir, o));
          for (const e of entries) if (e.isDir) queue.push(e.path);
          yielded++;
          yield { dir, entries };
        }
      },
    };
    return { handle, calls };
  }

  function populate() {
    for (let i = 0; i < 5; i++) fx.tree.writeFile(`/d${i}/s/f${i}.webm`, i, i);
  }

  it('prefers listTree for an unlimited recursive scan', async () => {
    fx = await engineFixture();
    populate();
    const { handle, calls } = flatHandle();
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope);
    expect(r).toMatchObject({ status: 'succeeded', dirs: 10, files: 5, mediaFiles: 5, created: 5 });
    expect(calls).toEqual({ listTree: 1, list: 0 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('walks with list when a depth limit is set', async () => {
    fx = await engineFixture();
    populate();
    const { handle, calls } = flatHandle();
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope, {
      maxDepth: 2,
    });
    expect(r).toMatchObject({ status: 'succeeded', dirs: 10, files: 0 });
    expect(calls).toEqual({ listTree: 0, list: 6 });
  });

  it('keeps what was not yet listed when listTree fails part way', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    for (let i = 0; i < 5; i++) fx.tree.remove(`/d${i}/s`);
    // Root and d0..d2 listed (d0..d2 lose their subdirectory), then the connection drops.
    const { handle } = flatHandle(4);
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope);
    expect(r).toMatchObject({
      status: 'partial',
      errors: 1,
      errorSample: [{ path: '/', code: 'UNAVAILABLE', message: 'connection reset' }],
      deleted: 3,
    });
    const paths = (await fx.indexed()).map((e) => e.path);
    expect(paths).toEqual(before.map((e) => e.path).filter((p) => !/^\/d[012]\/s/.test(p)));
  });

  it('fails and changes nothing when listTree fails before its first listing', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    fx.tree.remove('/d0');
    const { handle } = flatHandle(0);
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope);
    expect(r).toMatchObject({ status: 'failed', errors: 1 });
    expect(await fx.indexed()).toEqual(before);
  });
});
