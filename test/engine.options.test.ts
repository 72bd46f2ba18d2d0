import { afterEach, describe, expect, it } from 'vitest';
import type { EntryRepository, IndexedEntry } from '../src/db/entries.js';
import { scan } from '../src/scan/engine.js';
import type { ChangeBatch, ScanProgress } from '../src/scan/result.js';
import { indexRows, treeRows } from './support/harness.js';
import { engineFixture, entryWriteCounter, type EngineFixture } from './fixtures/engine.js';

/** The index repository with hooks around its calls. */
function wrapEntries(
  real: EntryRepository,
  hooks: {
    childrenOf?: (dirs: readonly string[]) => void;
    apply?: () => Promise<void> | void;
  },
): EntryRepository {
  return {
    batchEntries: real.batchEntries,
    childrenOf(s, dirs) {
      hooks.childrenOf?.(dirs);
      return real.childrenOf(s, dirs);
    },
    async apply(s, removals, writes) {
      await hooks.apply?.();
      return real.apply(s, removals, writes);
    },
    countSubtree: (s, d) => real.countSubtree(s, d),
    lookup: (s, p) => real.lookup(s, p),
    list: (s, d, o) => real.list(s, d, o),
  };
}

describe('scan engine: options', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  function nested() {
    fx.tree
      .writeFile('/top.txt', 1, 1)
      .writeFile('/a/one.txt', 2, 2)
      .writeFile('/a/b/two.txt', 3, 3)
      .writeFile('/a/b/c/three.txt', 4, 4)
      .writeFile('/a/b/c/d/four.txt', 5, 5);
  }

  it('lists the root only at depth 1, and N levels at depth N', async () => {
    fx = await engineFixture();
    nested();
    const one = await fx.app.scan(fx.storage, { maxDepth: 1 });
    expect(fx.tree.stats.lists).toBe(1);
    expect(one).toMatchObject({ status: 'succeeded', dirs: 1, files: 1, created: 1 });
    expect((await fx.indexed()).map((e) => e.path)).toEqual(['/a', '/top.txt']);

    const three = await fx.app.scan(fx.storage, { maxDepth: 3 });
    expect(fx.tree.stats.lists).toBe(1 + 3);
    expect(three).toMatchObject({ dirs: 3, files: 3, created: 2, unchanged: 1 });
    expect((await fx.indexed()).map((e) => e.path)).toEqual([
      '/a',
      '/a/b',
      '/a/b/c',
      '/a/b/two.txt',
      '/a/one.txt',
      '/top.txt',
    ]);
  });

  it('keeps what lies below the depth limit, and treats recursive:false as depth 1', async () => {
    fx = await engineFixture();
    nested();
    await fx.app.scan(fx.storage);
    const all = await fx.indexed();
    fx.tree.modify('/top.txt', { size: 10 });
    const lists = fx.tree.stats.lists;
    const r = await fx.app.scan(fx.storage, { recursive: false, maxDepth: 5 });
    expect(fx.tree.stats.lists - lists).toBe(1);
    expect(r).toMatchObject({
      status: 'succeeded',
      dirs: 1,
      files: 1,
      updated: 1,
      deleted: 0,
      unchanged: 0,
    });
    expect((await fx.indexed()).map((e) => e.path)).toEqual(all.map((e) => e.path));
    // A subdirectory that vanished still takes its subtree, whatever the depth.
    fx.tree.remove('/a');
    const gone = await fx.app.scan(fx.storage, { maxDepth: 1 });
    expect(gone).toMatchObject({ deleted: 4 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('rejects a depth below 1 or a fractional one', async () => {
    fx = await engineFixture();
    const storage = fx.app.storage.handle(fx.storage.id);
    const deps = { storage, entries: fx.app.index.entries };
    await expect(scan(deps, fx.scope, { maxDepth: 0 })).rejects.toThrow(
      'Expected `maxDepth` to be an integer from 1 and up, got 0',
    );
    await expect(scan(deps, fx.scope, { listers: 1.5 })).rejects.toThrow(/`listers`/);
  });

  it('classifies media by extension and counts video, audio and image as media', async () => {
    fx = await engineFixture();
    const files: Record<string, string | null> = {
      'film.MKV': 'video',
      'clip.mp4': 'video',
      'song.flac': 'audio',
      'talk.Mp3': 'audio',
      'photo.jpeg': 'image',
      'raw.cr2': 'image',
      'film.srt': 'subtitle',
      'notes.txt': null,
      noext: null,
      '.jpg': null,
      'trailing.': null,
    };
    for (const name of Object.keys(files)) fx.tree.writeFile(`/m/${name}`, 1, 1);
    fx.tree.mkdir('/m/folder.jpg');
    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({ files: 11, mediaFiles: 6, dirs: 2 });
    const kinds = Object.fromEntries((await fx.indexed()).map((e) => [e.path, e.mediaKind]));
    for (const [name, kind] of Object.entries(files)) expect(kinds[`/m/${name}`]).toBe(kind);
    expect(kinds['/m/folder.jpg']).toBe(null);
  });

  it('reports monotonic progress whose last event matches the result', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 40; i++) fx.tree.writeFile(`/d${i}/f.png`, i, i).mkdir(`/d${i}/e`);
    fx.tree.latencyMs = 3;
    fx.tree.failDir('/d7/e', 'PERMISSION_DENIED');
    const events: ScanProgress[] = [];
    const r = await fx.app.scan(fx.storage, {
      listers: 2,
      progressIntervalMs: 5,
      onProgress: (p) => events.push(p),
    });
    expect(events.length).toBeGreaterThan(2);
    const monotonic = [
      'dirsListed',
      'dirs',
      'files',
      'bytes',
      'created',
      'unchanged',
      'errors',
      'elapsedMs',
    ] as const;
    for (let i = 1; i < events.length; i++) {
      for (const k of monotonic) expect(events[i]![k]).toBeGreaterThanOrEqual(events[i - 1]![k]);
    }
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      dirsListed: 80,
      dirsQueued: 0,
      dirs: r.dirs,
      files: r.files,
      bytes: r.bytes,
      created: r.created,
      updated: r.updated,
      deleted: r.deleted,
      unchanged: r.unchanged,
      skipped: r.skipped,
      errors: r.errors,
    });
    expect(r).toMatchObject({ status: 'partial', dirs: 80, files: 40, errors: 1 });
  });

  it('runs many listers without listener-leak warnings on its signal', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 100; i++) fx.tree.writeFile(`/d${i}/f`, 1, 1);
    fx.tree.latencyMs = 2;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const r = await fx.app.scan(fx.storage, {
        listers: 40,
        signal: new AbortController().signal,
      });
      expect(r).toMatchObject({ status: 'succeeded', files: 100 });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('goes on when a progress callback throws', async () => {
    fx = await engineFixture();
    fx.tree.writeFile('/a/b', 1, 1).latencyMs = 5;
    let calls = 0;
    const r = await fx.app.scan(fx.storage, {
      progressIntervalMs: 1,
      onProgress: () => {
        calls++;
        throw new Error('terminal closed');
      },
    });
    expect(calls).toBeGreaterThan(0);
    expect(r).toMatchObject({ status: 'succeeded', files: 1, created: 1 });
  });

  it('hands the ids of each committed batch to the change sink', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 30; i++) fx.tree.writeFile(`/d${i % 6}/f${i}.mkv`, i, i);
    const batches: ChangeBatch[] = [];
    const committedAtCall: boolean[] = [];
    const byId = async () => new Map((await fx.indexed()).map((e) => [e.id, e]));
    const onChanges = async (b: ChangeBatch) => {
      batches.push(b);
      // Called after the commit: the created rows are already there.
      const now = await byId();
      committedAtCall.push(b.created.every((id) => now.has(id)));
    };
    await fx.app.scan(fx.storage, { batchEntries: 8, onChanges });
    expect(batches.length).toBeGreaterThan(1);
    expect(committedAtCall.every(Boolean)).toBe(true);
    const first = await byId();
    expect(batches.flatMap((b) => b.created).sort((x, y) => x - y)).toEqual(
      [...first.keys()].sort((x, y) => x - y),
    );
    expect(batches.flatMap((b) => [...b.updated, ...b.deleted])).toEqual([]);

    // An unchanged rescan hands on nothing.
    batches.length = 0;
    await fx.app.scan(fx.storage, { onChanges });
    expect(batches).toEqual([]);

    const idOf = (path: string) => [...first.values()].find((e) => e.path === path)!.id;
    fx.tree.modify('/d1/f1.mkv', { size: 1000 }).remove('/d2').writeFile('/d3/new.mkv', 1, 1);
    const removed = [...first.values()].filter((e) => e.path.startsWith('/d2')).map((e) => e.id);
    await fx.app.scan(fx.storage, { onChanges });
    const after = await byId();
    const created = batches.flatMap((b) => b.created);
    expect(created).toHaveLength(1);
    expect(after.get(created[0]!)?.path).toBe('/d3/new.mkv');
    expect(batches.flatMap((b) => b.updated)).toEqual([idOf('/d1/f1.mkv')]);
    expect(batches.flatMap((b) => b.deleted).sort((x, y) => x - y)).toEqual(
      removed.sort((x, y) => x - y),
    );
  });

  it('fails the scan when the change sink throws', async () => {
    fx = await engineFixture();
    fx.tree.writeFile('/a', 1, 1);
    const r = await fx.app.scan(fx.storage, {
      onChanges: () => {
        throw new Error('queue is down');
      },
    });
    expect(r.status).toBe('failed');
    expect(r.errorSample).toEqual([
      { path: '/', code: 'CHANGE_SINK', message: 'change sink failed: queue is down' },
    ]);
  });

  it('cuts batches by entry count', async () => {
    fx = await engineFixture();
    // Each of 10 directories weighs 10 (9 files + itself); the root weighs 11.
    for (let i = 0; i < 10; i++)
      for (let k = 0; k < 9; k++) fx.tree.writeFile(`/d${i}/f${k}`, 1, 1);
    const weight = (dir: string) => (dir === '/' ? 11 : 10);
    const batches: number[] = [];
    const entries = wrapEntries(fx.app.index.entries, {
      childrenOf: (dirs) => batches.push(dirs.reduce((w, d) => w + weight(d), 0)),
    });
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries }, fx.scope, { batchEntries: 25, batchMs: 60_000 });
    expect(r).toMatchObject({ status: 'succeeded', files: 90, created: 90 });
    expect(batches).toEqual([21, 20, 20, 20, 20, 10]);
  });

  it("cuts batches at the index's own size when the caller names none", async () => {
    fx = await engineFixture();
    for (let i = 0; i < 10; i++)
      for (let k = 0; k < 9; k++) fx.tree.writeFile(`/d${i}/f${k}`, 1, 1);
    const batches: number[] = [];
    const entries = wrapEntries(fx.app.index.entries, {
      childrenOf: (dirs) => batches.push(dirs.length),
    });
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries: { ...entries, batchEntries: 25 } }, fx.scope, {
      batchMs: 60_000,
    });
    expect(r).toMatchObject({ status: 'succeeded', files: 90, created: 90 });
    expect(batches).toEqual([2, 2, 2, 2, 2, 1]);
    expect(fx.app.index.entries.batchEntries).toBe(1000); // SQLite's
  });

  it('cuts a batch by time when no more listings come', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 8; i++) fx.tree.writeFile(`/d${i}/f`, 1, 1);
    // Each listing waits until the previous batch is written: without a time cut the
    // reconciler would wait for a full batch forever.
    let written = 0;
    let listed = 0;
    const waiters: Array<() => void> = [];
    fx.tree.beforeList = async () => {
      const mine = listed++;
      while (written < mine) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    const batches: string[][] = [];
    const entries = wrapEntries(fx.app.index.entries, {
      childrenOf: (dirs) => batches.push([...dirs]),
    });
    const counting: EntryRepository = {
      ...entries,
      async apply(s, rm, w) {
        const result = await entries.apply(s, rm, w);
        written++;
        for (const wake of waiters.splice(0)) wake();
        return result;
      },
    };
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries: counting }, fx.scope, {
      listers: 1,
      batchEntries: 100_000,
      batchMs: 20,
    });
    expect(r).toMatchObject({ status: 'succeeded', dirs: 8, files: 8 });
    expect(batches).toHaveLength(9);
    for (const b of batches) expect(b).toHaveLength(1);
  });

  it('bounds the listings waiting for a slow reconciler (backpressure)', async () => {
    fx = await engineFixture();
    // 200 directories of 9 files: every listing weighs 10.
    for (let i = 0; i < 200; i++)
      for (let k = 0; k < 9; k++) fx.tree.writeFile(`/d${i}/f${k}`, 1, 1);
    const listers = 4;
    const channelEntries = 30;
    // The channel holds at most 3 such listings; each lister may hold one more, waiting to
    // put it. The root listing (weight 201) is taken first, alone.
    const bound = channelEntries / 10 + listers;
    let handed = 0;
    let maxWaiting = 0;
    let listsAtFirstWrite = -1;
    const sample = () => {
      const finished = fx.tree.stats.lists - fx.tree.stats.inFlight;
      maxWaiting = Math.max(maxWaiting, finished - handed);
    };
    fx.tree.beforeList = sample;
    const entries = wrapEntries(fx.app.index.entries, {
      childrenOf: (dirs) => {
        sample();
        handed += dirs.length;
      },
      apply: async () => {
        sample();
        if (listsAtFirstWrite < 0 && handed > 1) listsAtFirstWrite = fx.tree.stats.lists;
        await new Promise((resolve) => setTimeout(resolve, 2));
        sample();
      },
    });
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries }, fx.scope, {
      listers,
      batchEntries: 10,
      channelEntries,
      batchMs: 1,
    });
    expect(r).toMatchObject({ status: 'succeeded', dirs: 200, files: 1800 });
    expect(maxWaiting).toBeLessThanOrEqual(bound);
    // The listers really stalled: far fewer listings than directories had been made when
    // the reconciler got to its second batch.
    expect(listsAtFirstWrite).toBeGreaterThan(0);
    expect(listsAtFirstWrite).toBeLessThanOrEqual(1 + bound + listers);
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('counts on a dry run what a real scan then does, and writes nothing', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 20; i++) fx.tree.writeFile(`/d${i % 4}/sub/f${i}.mp3`, i, i);
    await fx.app.scan(fx.storage);
    const before = await fx.indexed();
    const scansBefore = (await fx.app.index.scans.list({ tenantId: fx.app.tenantId })).length;
    fx.tree.remove('/d0').modify('/d1/sub/f1.mp3', { size: 77 }).writeFile('/d1/new.mp3', 5, 5);
    fx.tree.remove('/d2/sub/f2.mp3').writeFile('/d2/sub/f2.mp3/inner.mp3', 1, 1);
    const writes = entryWriteCounter(fx.dbFile);
    let dry;
    try {
      dry = await fx.app.scan(fx.storage, { dryRun: true });
      expect(writes.count()).toBe(0);
    } finally {
      writes.close();
    }
    expect(dry.scanId).toBe(null);
    expect(await fx.indexed()).toEqual(before);
    expect((await fx.app.index.scans.list({ tenantId: fx.app.tenantId })).length).toBe(scansBefore);
    const real = await fx.app.scan(fx.storage);
    const keys = ['dirs', 'files', 'mediaFiles', 'bytes', 'created', 'updated', 'deleted'] as const;
    const pick = (r: typeof real) => Object.fromEntries(keys.map((k) => [k, r[k]]));
    expect(pick(dry)).toEqual(pick(real));
    expect(dry.unchanged).toBe(real.unchanged);
    expect(real).toMatchObject({ created: 2, updated: 1, deleted: 6 });
  });

  it('writes nothing on a rescan of an unchanged tree', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 500; i++) fx.tree.writeFile(`/a${i % 10}/b${i % 7}/f${i}.jpg`, i, i);
    fx.tree.mkdir('/empty/dir');
    await fx.app.scan(fx.storage);
    const before: IndexedEntry[] = await fx.indexed();
    const writes = entryWriteCounter(fx.dbFile);
    try {
      const r = await fx.app.scan(fx.storage, { batchEntries: 50 });
      expect(r).toMatchObject({ status: 'succeeded', unchanged: 500, created: 0, updated: 0 });
      expect(writes.count()).toBe(0);
    } finally {
      writes.close();
    }
    expect(await fx.indexed()).toEqual(before);
  });
});
