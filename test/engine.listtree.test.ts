import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { PermissionDeniedError, StorageError } from '../src/storage/errors.js';
import type { StorageHandle } from '../src/storage/service.js';
import type { TreeListing } from '../src/storage/types.js';
import { indexRows, treeRows } from './support/harness.js';
import { engineFixture, type EngineFixture } from './fixtures/engine.js';
import { listAll } from './support/list-all.js';

describe('scan engine: listTree capability', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  /**
   * A handle whose listTree yields the memory tree breadth-first, failing where told: the
   * whole walk after `failAfter` pieces, or one directory (`deny`) as a piece with its error.
   * It lists only what `descend` allows, as the local backend does.
   */
  function flatHandle(failAfter = Infinity, deny?: string) {
    const real = fx.app.storage.handle(fx.storage.id);
    const calls = { listTree: 0, list: 0, listed: [] as string[] };
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
          yielded++;
          if (dir === deny) {
            yield { dir, entries: [], error: new PermissionDeniedError('denied', { path: dir }) };
            continue;
          }
          const entries = await listAll(real.list(dir, o));
          calls.listed.push(dir);
          yield { dir, entries };
          for (const e of entries)
            if (e.isDir && (o?.descend?.(e.path) ?? true)) queue.push(e.path);
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
    expect(calls).toMatchObject({ listTree: 1, list: 0 });
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
    expect(calls).toMatchObject({ listTree: 0, list: 6 });
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

  it('keeps a directory whose piece carries an error and reconciles the rest', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = (await fx.indexed()).map((e) => e.path);
    for (let i = 0; i < 5; i++) fx.tree.remove(`/d${i}/s`);
    const { handle } = flatHandle(Infinity, '/d1');
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope);
    expect(r).toMatchObject({
      status: 'partial',
      errors: 1,
      errorSample: [{ path: '/d1', code: 'PERMISSION_DENIED' }],
      deleted: 4,
    });
    const paths = (await fx.indexed()).map((e) => e.path);
    expect(paths).toEqual(before.filter((p) => !/^\/d[0234]\/s/.test(p)));
  });

  it('fails and changes nothing when the root comes as an error', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    fx.tree.remove('/d0');
    const { handle } = flatHandle(Infinity, '/');
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope);
    expect(r).toMatchObject({ status: 'failed', errors: 1, errorSample: [{ path: '/' }] });
    expect(await fx.indexed()).toEqual(before);
  });

  it('descends only into what its rules and bounds allow, and counts it as queued', async () => {
    fx = await engineFixture();
    populate();
    fx.tree.writeFile('/d2/s/deep/er/f.webm', 1, 1);
    const { handle, calls } = flatHandle();
    const queued: number[] = [];
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope, {
      exclude: ['/d3'],
      maxTreeDepth: 3,
      onProgress: (p) => queued.push(p.dirsQueued),
      progressIntervalMs: 1,
    });
    // /d3 excluded: never listed; /d2/s/deep/er is 4 deep: refused, recorded, never listed.
    expect(calls.listed).not.toContain('/d3');
    expect(calls.listed).not.toContain('/d2/s/deep/er');
    expect(calls.listed).toContain('/d2/s/deep');
    expect(r).toMatchObject({
      status: 'partial',
      errors: 1,
      errorSample: [{ path: '/d2/s/deep/er', code: 'PROTOCOL' }],
    });
    expect(queued.at(-1)).toBe(0);
  });
});
