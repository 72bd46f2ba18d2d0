/**
 * The error contract under stress: one CANCELLED code wherever a request is stopped, INTERNAL
 * for a backend's bug, every error naming its own directory, no retry burnt on a client
 * dropped while a request waited, and pacing state that does not pile up in a worker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StorageError } from '../src/storage/errors.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { StorageService, type RetryNotice } from '../src/storage/service.js';
import type { StorageClient } from '../src/storage/types.js';
import { listAll } from './support/list-all.js';
import {
  Configs,
  FAST_RETRY,
  grow,
  scanFixture,
  volume,
  type ScanFixture,
} from './service.helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function memoryService(
  tree = new MemoryTree(),
  deps: Partial<ConstructorParameters<typeof StorageService>[0]> = {},
) {
  const vol = volume(tree);
  const configs = new Configs();
  configs.add({ id: 1, options: { volume: vol.name, maxConcurrency: 1 } });
  const service = new StorageService({ lookup: configs.lookup, retry: FAST_RETRY, ...deps });
  cleanups.push(vol.drop, () => service.closeAll());
  return { tree: vol.tree, service, configs, handle: service.handle(1) };
}

describe('StorageService: one CANCELLED code', () => {
  it('for a request stopped while it waits for a slot, with a plain AbortController', async () => {
    const { tree, handle } = memoryService();
    tree.writeFile('/a/x', 1, 1);
    tree.latencyMs = 200;
    const busy = listAll(handle.list('/a')); // holds the only slot
    const controller = new AbortController();
    const waiting = listAll(handle.list('/a', { signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 20));
    controller.abort(); // reason: a DOMException AbortError
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'CANCELLED', path: '/a' });
    await busy;
  });

  it('for a request stopped during a rate-limit wait', async () => {
    const { tree, handle } = memoryService();
    tree.writeFile('/a/x', 1, 1);
    tree.failDir('/a', { code: 'RATE_LIMITED', retryAfterMs: 60_000 });
    const controller = new AbortController();
    const listing = listAll(handle.list('/a', { signal: controller.signal }));
    while (tree.stats.lists === 0) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const error = await listing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'CANCELLED' });
  });

  it('for a check stopped while the backend hangs', async () => {
    const hanging: StorageClient = {
      connect: async () => {},
      close: async () => {},
      check: () => new Promise(() => undefined),
      async *list() {},
    };
    const configs = new Configs();
    configs.add({ id: 9, options: {} });
    const service = new StorageService({ lookup: configs.lookup, createClient: () => hanging });
    cleanups.push(() => service.closeAll());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();
    await expect(service.handle(9).check({ signal: controller.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('StorageService: a handle aborts its listings itself (abortsListing)', () => {
  it('settles each step of a listing CANCELLED while the backend hangs and ignores the signal', async () => {
    let lists = 0;
    const hanging: StorageClient = {
      connect: async () => {},
      close: async () => {},
      check: async () => {},
      // The first listing answers a page and then hangs; the second hangs before its first.
      async *list() {
        if (++lists === 1) yield [{ path: '/a', name: 'a', isDir: false, size: 1, mtime: 1 }];
        await new Promise<never>(() => undefined);
      },
    };
    const configs = new Configs();
    configs.add({ id: 9, options: {} });
    const service = new StorageService({ lookup: configs.lookup, createClient: () => hanging });
    cleanups.push(() => service.closeAll());
    const handle = service.handle(9);
    // The scan engine leaves the race to the handle on the strength of this.
    expect(handle.abortsListing).toBe(true);
    expect((await service.open(9)).abortsListing).toBe(true);

    const first = new AbortController();
    const pages = handle.list('/', { signal: first.signal })[Symbol.asyncIterator]();
    expect((await pages.next()).value).toHaveLength(1);
    const later = pages.next();
    first.abort();
    await expect(later).rejects.toMatchObject({ code: 'CANCELLED', path: '/' });

    const second = new AbortController();
    const before = handle.list('/', { signal: second.signal })[Symbol.asyncIterator]().next();
    while (lists < 2) await new Promise((r) => setImmediate(r));
    second.abort();
    await expect(before).rejects.toMatchObject({ code: 'CANCELLED', path: '/' });
  });
});

describe('StorageService: a bug in a backend is INTERNAL', () => {
  it('is reported as INTERNAL with the original error kept, and logged with its stack', async () => {
    const lines: string[] = [];
    const configs = new Configs();
    configs.add({ id: 1, options: {} });
    const service = new StorageService({
      lookup: configs.lookup,
      retry: FAST_RETRY,
      logger: (await import('../src/observability/logger.js')).createLogger({
        level: 'error',
        destination: { write: (l: string) => void lines.push(l) },
      }),
      createClient: () => ({
        connect: async () => {},
        close: async () => {},
        check: async () => {},
        async *list() {
          const broken = undefined as unknown as { name: string };
          throw new TypeError(`cannot read ${broken.name}`);
        },
      }),
    });
    cleanups.push(() => service.closeAll());
    const error = await listAll(service.handle(1).list('/d')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INTERNAL', path: '/d' });
    expect((error as StorageError).cause).toBeInstanceOf(TypeError);
    expect(lines.join('')).toMatch(/storage backend bug/);
    expect(lines.join('')).toMatch(/TypeError/);
  });

  it('fails the scan instead of passing it as partial', async () => {
    const tree = new MemoryTree();
    grow(tree, [3], 2);
    const fx: ScanFixture = await scanFixture({}, tree);
    cleanups.push(() => fx.close());
    tree.beforeList = (dir) => {
      if (dir === '/d1') throw new TypeError('x is not a function');
    };
    const r = await fx.scanWith();
    expect(r.status).toBe('failed');
    expect(r.errorSample).toEqual([expect.objectContaining({ path: '/d1', code: 'INTERNAL' })]);
  });
});

describe('StorageService: errors name their own directory', () => {
  it("when the server dies mid-scan, each failed directory is reported, not the reconnect probe's /", async () => {
    const tree = new MemoryTree();
    grow(tree, [6, 6], 3);
    tree.latencyMs = 2;
    const fx = await scanFixture({}, tree);
    cleanups.push(() => fx.close());
    let lists = 0;
    tree.beforeList = () => {
      if (++lists === 8) tree.stop(); // after the root and a few directories
    };
    const r = await fx.scanWith({ listers: 4 });
    expect(r.status).toBe('partial');
    expect(r.errors).toBeGreaterThan(3);
    const paths = r.errorSample.map((e) => e.path);
    expect(paths).not.toContain('/');
    expect(new Set(paths).size).toBe(paths.length); // each directory once, by its own path
    for (const e of r.errorSample) expect(e.code).toBe('UNAVAILABLE');
    // The message says what failed: the reconnect.
    expect(r.errorSample.some((e) => /connecting failed/.test(e.message))).toBe(true);
  });
});

describe('StorageService: clients and state', () => {
  it('does not send a request on a client dropped while it waited for its slot, nor burn a retry', async () => {
    const { tree, service, handle, configs } = memoryService();
    tree.writeFile('/a/x', 1, 1);
    await listAll(handle.list('/'));
    const connectsBefore = tree.stats.connects;
    tree.latencyMs = 50;
    const first = listAll(handle.list('/a')); // holds the only slot
    const second = listAll(handle.list('/a')); // waits for it
    await new Promise((r) => setTimeout(r, 10));
    // The config changes meanwhile: the live client is replaced.
    configs.add({ ...configs.map.get(1)!, version: 2 });
    await service.refresh(1);
    await Promise.all([first, second]);
    expect(service.stats(1).retries).toBe(0);
    expect(tree.stats.connects).toBeGreaterThan(connectsBefore);
  });

  it('announces each retry to listeners, with the failing path', async () => {
    const { tree, service, handle } = memoryService();
    tree.writeFile('/a/x', 1, 1);
    tree.failDir('/a', { code: 'UNAVAILABLE', times: 2 });
    const notices: RetryNotice[] = [];
    const off = service.onRetry((n) => notices.push(n));
    await listAll(handle.list('/a'));
    off();
    expect(notices.map((n) => [n.attempt, n.of, n.error.code, n.error.path])).toEqual([
      [1, 4, 'UNAVAILABLE', '/a'],
      [2, 4, 'UNAVAILABLE', '/a'],
    ]);
  });

  it('forgets the pacing state of storages long unused', async () => {
    let now = 0;
    const { service, handle } = memoryService(new MemoryTree(), {
      now: () => now,
      health: { idleTtlMs: 1_000, checkAfterMs: 500 },
    });
    await listAll(handle.list('/'));
    expect(service.pacedIds()).toEqual([1]);
    now += 2_000;
    await service.sweepIdle(); // closes the idle client
    await service.sweepIdle(); // and then forgets the state
    expect(service.liveIds()).toEqual([]);
    expect(service.pacedIds()).toEqual([]);
  });
});
