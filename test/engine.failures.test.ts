import { afterEach, describe, expect, it } from 'vitest';
import type { EntryRepository } from '../src/db/entries.js';
import { scan } from '../src/scan/engine.js';
import type { StorageHandle } from '../src/storage/service.js';
import type { Entry } from '../src/storage/types.js';
import { indexRows, treeRows } from './support/harness.js';
import { engineFixture, entryWriteCounter, type EngineFixture } from './fixtures/engine.js';
import { listAll } from './support/list-all.js';

describe('scan engine: failures', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  function populate() {
    fx.tree
      .writeFile('/a/one.mkv', 1, 1)
      .writeFile('/a/b/two.mkv', 2, 2)
      .writeFile('/a/b/c/three.mkv', 3, 3)
      .writeFile('/x/four.txt', 4, 4)
      .writeFile('/x/y/five.txt', 5, 5)
      .writeFile('/top.txt', 6, 6);
  }

  it('keeps the whole subtree of a directory whose listing fails, and ends partial', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = indexRows(await fx.indexed());
    const underA = before.filter((r) => r[0].startsWith('/a/'));

    // Everything under /a changes or vanishes, but /a cannot be listed.
    fx.tree.remove('/a/b').remove('/a/one.mkv').writeFile('/a/new.mkv', 9, 9);
    fx.tree.failDir('/a', 'PERMISSION_DENIED');
    // Elsewhere the scan goes on: one deletion, one update.
    fx.tree.remove('/x/y').modify('/top.txt', { size: 60 });

    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({
      status: 'partial',
      errors: 1,
      errorSample: [
        { path: '/a', code: 'PERMISSION_DENIED', message: 'injected PERMISSION_DENIED listing /a' },
      ],
      dirs: 2,
      files: 2,
      deleted: 1,
      updated: 1,
      unchanged: 1,
      created: 0,
    });
    const after = indexRows(await fx.indexed());
    expect(after.filter((row) => row[0].startsWith('/a/'))).toEqual(underA);
    expect(after.filter((row) => !row[0].startsWith('/a/'))).toEqual(
      treeRows(fx.tree).filter((row) => !row[0].startsWith('/a/')),
    );
    const recorded = await fx.app.index.scans.get(r.scanId!);
    expect(recorded).toMatchObject({ status: 'partial', errors: 1 });
    expect(recorded?.errorSample).toEqual(r.errorSample);

    fx.tree.clearFaults();
    const healed = await fx.app.scan(fx.storage);
    expect(healed).toMatchObject({ status: 'succeeded', errors: 0, created: 1, deleted: 3 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('keeps a deeper failing subtree while its parent is reconciled', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    fx.tree.remove('/a/b/c').failDir('/a/b', { code: 'PROTOCOL', message: 'garbled reply' });
    fx.tree.remove('/a/one.mkv');
    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({
      status: 'partial',
      errors: 1,
      errorSample: [{ path: '/a/b', code: 'PROTOCOL', message: 'garbled reply' }],
      deleted: 1,
    });
    const paths = (await fx.indexed()).map((e) => e.path);
    expect(paths).toContain('/a/b/c/three.mkv');
    expect(paths).not.toContain('/a/one.mkv');
  });

  it('fails on a root that cannot be listed and changes nothing', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    fx.tree.remove('/a').remove('/x').writeFile('/new.txt', 1, 1).failDir('/', 'NOT_FOUND');
    const writes = entryWriteCounter(fx.dbFile);
    try {
      const r = await fx.app.scan(fx.storage);
      expect(r).toMatchObject({
        status: 'failed',
        errors: 1,
        errorSample: [{ path: '/', code: 'NOT_FOUND', message: 'injected NOT_FOUND listing /' }],
        dirs: 0,
        files: 0,
        created: 0,
        deleted: 0,
      });
      expect(writes.count()).toBe(0);
      expect(await fx.indexed()).toEqual(before);
      expect(await fx.app.index.scans.get(r.scanId!)).toMatchObject({ status: 'failed' });
    } finally {
      writes.close();
    }
  });

  it('fails without writing when the storage is offline (cannot connect)', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    const offline = await fx.app.index.storages.upsert({
      tenantId: fx.app.tenantId,
      name: 'offline',
      kind: 'memory',
      location: 'memory://no-such-volume',
      options: { volume: 'no-such-volume' },
    });
    const r = await fx.app.scan(offline);
    expect(r.status).toBe('failed');
    expect(r.errors).toBe(1);
    expect(r.errorSample[0]).toMatchObject({ path: '/', code: 'UNAVAILABLE' });
    expect(await fx.indexed()).toEqual(before);
  });

  it('fails on refused credentials after exactly one login attempt', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    await fx.app.storage.release(fx.storage.id);
    const connectsBefore = fx.tree.stats.connects;
    fx.tree.failConnect({ code: 'AUTH_FAILED' });
    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({ status: 'failed', errors: 1, retries: 0 });
    expect(r.errorSample[0]).toMatchObject({ path: '/', code: 'AUTH_FAILED' });
    // A second login with the same bad password costs the server's delay again, or a lockout.
    expect(fx.tree.stats.connects - connectsBefore).toBe(1);
    expect(await fx.indexed()).toEqual(before);
  });
  it('counts every error but keeps only a sample', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 30; i++) {
      fx.tree.writeFile(`/d${i}/f`, 1, 1);
      fx.tree.failDir(`/d${i}`, 'PERMISSION_DENIED');
    }
    const r = await fx.app.scan(fx.storage);
    expect(r.status).toBe('partial');
    expect(r.errors).toBe(30);
    expect(r.errorSample).toHaveLength(20);
    for (const e of r.errorSample) {
      expect(e.code).toBe('PERMISSION_DENIED');
      expect(e.path).toMatch(/^\/d\d+$/);
      expect(e.message).toBe(`injected PERMISSION_DENIED listing ${e.path}`);
    }
    const small = await fx.app.scan(fx.storage, { errorSampleSize: 3 });
    expect(small.errors).toBe(30);
    expect(small.errorSample).toHaveLength(3);
    expect((await fx.app.index.scans.get(small.scanId!))?.errorSample).toHaveLength(3);
  });

  it('refuses a listing that breaks the storage contract and keeps the directory', async () => {
    fx = await engineFixture();
    populate();
    await fx.app.scan(fx.storage);
    const real = fx.app.storage.handle(fx.storage.id);
    const broken = (dir: string, entries: Entry[]): Entry[] => {
      if (dir === '/a')
        return [{ path: '/elsewhere/z', name: 'z', isDir: false, size: 1, mtime: 1 }];
      if (dir === '/x') return [...entries, entries[0]!];
      return entries;
    };
    const handle: StorageHandle = {
      storageId: real.storageId,
      check: () => real.check(),
      list: async function* (dir, o) {
        yield broken(dir, await listAll(real.list(dir, o)));
      },
    };
    const before = await fx.indexed();
    const r = await scan({ storage: handle, entries: fx.app.index.entries }, fx.scope);
    expect(r.status).toBe('partial');
    expect(r.errors).toBe(2);
    expect(r.errorSample.map((e) => [e.path, e.code]).sort()).toEqual([
      ['/a', 'PROTOCOL'],
      ['/x', 'PROTOCOL'],
    ]);
    expect(await fx.indexed()).toEqual(before);
  });

  it('fails the scan when the index cannot be written, and reports it', async () => {
    fx = await engineFixture();
    populate();
    const entries: EntryRepository = {
      batchEntries: fx.app.index.entries.batchEntries,
      childrenOf: (s, d) => fx.app.index.entries.childrenOf(s, d),
      lookup: (s, p) => fx.app.index.entries.lookup(s, p),
      apply: () => Promise.reject(new Error('disk I/O error')),
      countSubtree: (s, d) => fx.app.index.entries.countSubtree(s, d),
      list: (s, d, o) => fx.app.index.entries.list(s, d, o),
    };
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries }, fx.scope);
    expect(r).toMatchObject({ status: 'failed', dirs: 0, files: 0, bytes: 0, created: 0 });
    expect(r.errorSample).toEqual([
      { path: '/', code: 'INDEX', message: 'index write failed: disk I/O error' },
    ]);
    expect(await fx.indexed()).toEqual([]);
  });
});

describe('scan engine: cancellation', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  function wideTree() {
    // 20 top directories × 10 subdirectories × 5 files: 220 dirs, 1,000 files.
    for (let i = 0; i < 20; i++)
      for (let j = 0; j < 10; j++)
        for (let k = 0; k < 5; k++) fx.tree.writeFile(`/t${i}/s${j}/f${k}.jpg`, k + 1, i * 100 + j);
  }

  /** Every indexed entry is in the tree as indexed, under an indexed parent (or the root). */
  async function expectConsistent() {
    const indexed = await fx.indexed();
    const tree = new Map(treeRows(fx.tree).map((r) => [r[0], r]));
    const dirs = new Set(indexed.filter((e) => e.isDir).map((e) => e.path));
    for (const e of indexed) {
      expect(tree.get(e.path)).toEqual([e.path, e.isDir, e.size, e.mtime]);
      const parent = e.path.slice(0, e.path.lastIndexOf('/')) || '/';
      if (parent !== '/') expect(dirs.has(parent), `parent of ${e.path}`).toBe(true);
    }
    return indexed;
  }

  it('stops mid-scan, leaves a consistent index, and a later scan completes it', async () => {
    fx = await engineFixture();
    wideTree();
    fx.tree.latencyMs = 2;
    const controller = new AbortController();
    fx.tree.beforeList = () => {
      if (fx.tree.stats.lists === 60) controller.abort();
    };
    const r = await fx.app.scan(fx.storage, {
      signal: controller.signal,
      listers: 4,
      batchEntries: 20,
      batchMs: 5,
    });
    expect(r.status).toBe('cancelled');
    expect(r.errors).toBe(0);
    const indexed = await expectConsistent();
    const files = indexed.filter((e) => !e.isDir).length;
    // Mid-scan: some of the tree, not all of it; the counters say exactly what was committed.
    expect(indexed.length).toBeGreaterThan(0);
    expect(indexed.length).toBeLessThan(1220);
    expect(r.created).toBe(files);
    expect(await fx.app.index.scans.get(r.scanId!)).toMatchObject({
      status: 'cancelled',
      created: files,
    });

    fx.tree.beforeList = undefined;
    fx.tree.latencyMs = 0;
    const done = await fx.app.scan(fx.storage);
    expect(done).toMatchObject({
      status: 'succeeded',
      files: 1000,
      created: 1000 - files,
      unchanged: files,
      updated: 0,
      deleted: 0,
    });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('lets the batch being written finish whole when cancelled during a write', async () => {
    fx = await engineFixture();
    wideTree();
    const controller = new AbortController();
    let applies = 0;
    const real = fx.app.index.entries;
    const entries: EntryRepository = {
      batchEntries: real.batchEntries,
      childrenOf: (s, d) => real.childrenOf(s, d),
      lookup: (s, p) => real.lookup(s, p),
      countSubtree: (s, d) => real.countSubtree(s, d),
      list: (s, d, o) => real.list(s, d, o),
      async apply(s, removals, writes) {
        if (++applies === 3) controller.abort();
        await new Promise((resolve) => setTimeout(resolve, 5));
        return real.apply(s, removals, writes);
      },
    };
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries }, fx.scope, {
      signal: controller.signal,
      batchEntries: 30,
    });
    expect(r.status).toBe('cancelled');
    expect(applies).toBe(3);
    const indexed = await expectConsistent();
    expect(r.created).toBe(indexed.filter((e) => !e.isDir).length);
    expect(r.dirs).toBe(indexed.filter((e) => e.isDir).length);
  });

  it('stops promptly even when a listing hangs and ignores the signal', async () => {
    fx = await engineFixture();
    wideTree();
    fx.tree.mkdir('/stuck');
    const real = fx.app.storage.handle(fx.storage.id);
    /** A request that never answers; the user gives up on it 10 ms later. */
    const hang = (controller: AbortController) => {
      setTimeout(() => controller.abort(), 10);
      return new Promise<never>(() => undefined);
    };

    const first = new AbortController();
    const listing: StorageHandle = {
      storageId: real.storageId,
      check: () => real.check(),
      list: (dir, o) =>
        dir === '/stuck'
          ? (async function* () {
              yield await hang(first);
            })()
          : real.list(dir, o),
    };
    const r = await scan({ storage: listing, entries: fx.app.index.entries }, fx.scope, {
      signal: first.signal,
    });
    expect(r).toMatchObject({ status: 'cancelled', errors: 0 });
    await expectConsistent();

    const second = new AbortController();
    const flat: StorageHandle = {
      ...listing,
      async *listTree(root, o) {
        yield { dir: root, entries: await listAll(real.list(root, o)) };
        await hang(second);
      },
    };
    const r2 = await scan({ storage: flat, entries: fx.app.index.entries }, fx.scope, {
      signal: second.signal,
    });
    expect(r2).toMatchObject({ status: 'cancelled', errors: 0 });
    await expectConsistent();
  });

  it('writes nothing when the signal is already aborted', async () => {
    fx = await engineFixture();
    wideTree();
    const r = await fx.app.scan(fx.storage, { signal: AbortSignal.abort() });
    expect(r).toMatchObject({ status: 'cancelled', dirs: 0, files: 0, created: 0 });
    expect(fx.tree.stats.lists).toBe(0);
    expect(await fx.indexed()).toEqual([]);
  });

  it('completes a cancelled rescan of a changed tree exactly', async () => {
    fx = await engineFixture();
    wideTree();
    await fx.app.scan(fx.storage);
    for (let i = 0; i < 20; i += 2) fx.tree.remove(`/t${i}/s3`);
    for (let i = 1; i < 20; i += 2) fx.tree.modify(`/t${i}/s1/f0.jpg`, { size: 99 });
    const controller = new AbortController();
    const start = fx.tree.stats.lists;
    fx.tree.beforeList = () => {
      if (fx.tree.stats.lists === start + 100) controller.abort();
    };
    const cut = await fx.app.scan(fx.storage, {
      signal: controller.signal,
      batchEntries: 10,
      batchMs: 1,
    });
    expect(cut.status).toBe('cancelled');
    fx.tree.beforeList = undefined;
    const done = await fx.app.scan(fx.storage);
    expect(done.status).toBe('succeeded');
    expect(cut.deleted + done.deleted).toBe(50);
    expect(cut.updated + done.updated).toBe(10);
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });
});
