import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { StorageService } from '../src/storage/service.js';
import {
  Configs,
  FAST_RETRY,
  grow,
  grown,
  scanFixture,
  volume,
  type ScanFixture,
} from './service.helpers.js';
import { indexRows, treeRows } from './support/harness.js';
import { listAll } from './support/list-all.js';

describe('StorageService health', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  function setup(health = {}) {
    const vol = volume();
    vol.tree.writeFile('/a/x.txt', 1, 1);
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: vol.name } });
    const clock = { now: 0 };
    const service = new StorageService({
      lookup: configs.lookup,
      now: () => clock.now,
      retry: FAST_RETRY,
      health,
    });
    cleanups.push(vol.drop, () => service.closeAll());
    return { tree: vol.tree, service, clock, handle: service.handle(1) };
  }

  it('checks a client idle longer than 30 s before reusing it, once', async () => {
    const { tree, handle, clock, service } = setup();
    clock.now = 1000;
    await listAll(handle.list('/'));
    clock.now += 29_999;
    await listAll(handle.list('/'));
    expect(tree.stats.checks).toBe(0);
    expect(service.clients()).toEqual([
      expect.objectContaining({ storageId: 1, kind: 'memory', lastUsed: 30_999, busy: 0 }),
    ]);
    clock.now += 30_000;
    await Promise.all([
      listAll(handle.list('/')),
      listAll(handle.list('/a')),
      listAll(handle.list('/')),
    ]);
    expect(tree.stats.checks).toBe(1);
    await listAll(handle.list('/'));
    expect(tree.stats.checks).toBe(1);
    expect(tree.stats.connects).toBe(1);
  });

  it('reconnects when the check before reuse finds the connection dead', async () => {
    const { tree, handle, clock, service } = setup();
    await listAll(handle.list('/'));
    tree.stop().start(); // a server restart while the client sat idle
    clock.now += 60_000;
    expect((await listAll(handle.list('/a'))).map((e) => e.name)).toEqual(['x.txt']);
    expect(tree.stats.checks).toBe(1);
    expect(tree.stats.connects).toBe(2);
    expect(tree.stats.openClients).toBe(1);
    expect(service.stats(1)).toMatchObject({ retries: 0, connects: 2 });
  });

  it('closes clients idle past the TTL (default 5 min), never a busy one', async () => {
    const { tree, handle, clock, service } = setup();
    await listAll(handle.list('/'));
    clock.now += 5 * 60_000 - 1;
    expect(await service.sweepIdle()).toBe(0);
    expect(tree.stats.openClients).toBe(1);

    let unblock!: () => void;
    tree.beforeList = () => new Promise<void>((r) => (unblock = r));
    const busy = listAll(handle.list('/'));
    await vi.waitFor(() => expect(tree.stats.inFlight).toBe(1));
    clock.now += 10 * 60_000;
    expect(await service.sweepIdle()).toBe(0);
    unblock();
    await busy;
    tree.beforeList = undefined;

    clock.now += 5 * 60_000;
    expect(await service.sweepIdle()).toBe(1);
    expect(tree.stats.openClients).toBe(0);
    expect(service.liveIds()).toEqual([]);
    await listAll(handle.list('/'));
    expect(tree.stats.connects).toBe(2);
  });

  it('sweeps idle clients on its own timer', async () => {
    const { tree, handle, clock } = setup({ idleTtlMs: 1000, sweepIntervalMs: 5 });
    await listAll(handle.list('/'));
    clock.now += 1000;
    await vi.waitFor(() => expect(tree.stats.openClients).toBe(0), { timeout: 5000 });
  });

  it('drops the client on UNAVAILABLE during use, so the retry reconnects', async () => {
    const { tree, handle, service } = setup();
    await listAll(handle.list('/'));
    tree.failDir('/a', { code: 'UNAVAILABLE', times: 1 });
    expect((await listAll(handle.list('/a'))).map((e) => e.name)).toEqual(['x.txt']);
    expect(tree.stats.connects).toBe(2);
    expect(tree.stats.openClients).toBe(1);
    expect(service.stats(1)).toMatchObject({ retries: 1, connects: 2 });
  });
});

describe('a memory server stopped mid-scan', () => {
  let fx: ScanFixture | undefined;
  afterEach(async () => fx?.close());

  it('fails the directories it could not list, and the next scan in the same process completes', async () => {
    const tree = new MemoryTree();
    const shape = [6, 5];
    grow(tree, shape, 3);
    fx = await scanFixture({}, tree);
    const first = await fx.scanWith({ listers: 4 });
    expect(first).toMatchObject({ status: 'succeeded', ...grown(shape, 3) });

    // Changes the next scan must not see on the directories it fails to list.
    tree.remove('/d5/d4/f0.mkv');
    let lists = 0;
    tree.beforeList = () => {
      if (++lists === 10) tree.stop();
    };
    const broken = await fx.scanWith({ listers: 4 });
    expect(broken.status).toBe('partial');
    expect(broken.errors).toBeGreaterThan(0);
    expect(broken.errorSample.every((e) => e.code === 'UNAVAILABLE')).toBe(true);
    expect(broken.retries).toBeGreaterThan(0);
    expect((await fx.indexed()).map((e) => e.path)).toContain('/d5/d4/f0.mkv');
    expect(fx.service.liveIds()).toEqual([]); // the dead client was not kept

    tree.beforeList = undefined;
    tree.start();
    const connectsBefore = tree.stats.connects - tree.stats.connectFailures;
    const again = await fx.scanWith({ listers: 4 });
    expect(again).toMatchObject({
      status: 'succeeded',
      errors: 0,
      deleted: 1,
      dirs: grown(shape, 3).dirs,
      files: grown(shape, 3).files - 1,
    });
    expect(tree.stats.connects - tree.stats.connectFailures).toBe(connectsBefore + 1);
    expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
  });
});
