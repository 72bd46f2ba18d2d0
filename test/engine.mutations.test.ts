import { afterEach, describe, expect, it } from 'vitest';
import type { EntryRepository } from '../src/db/entries.js';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { indexRows, treeRows } from './support/harness.js';
import {
  engineFixture,
  entryWriteCounter,
  expectedFileCounts,
  prng,
  type EngineFixture,
} from './fixtures/engine.js';

describe('scan engine: mutation rounds', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  async function scanAndCheck(expected: Record<string, number>) {
    const r = await fx.app.scan(fx.storage);
    expect(r.errorSample).toEqual([]);
    expect(r).toMatchObject({ status: 'succeeded', ...expected });
    expect(r.created + r.updated + r.unchanged).toBe(r.files);
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
    return r;
  }

  it('counts every kind of change exactly, round after round', async () => {
    fx = await engineFixture();
    const t = fx.tree;
    t.writeFile('/music/a.flac', 100, 1)
      .writeFile('/music/b.mp3', 200, 1)
      .writeFile('/music/live/c.mp3', 300, 1)
      .writeFile('/docs/x.txt', 1, 1)
      .writeFile('/docs/deep/er/y.txt', 2, 1)
      .writeFile('/swap', 5, 1)
      .writeFile('/became-file/z.txt', 9, 1)
      .mkdir('/empty');
    await scanAndCheck({ dirs: 7, files: 7, created: 7, updated: 0, deleted: 0, unchanged: 0 });

    // Round 1: add one, grow one, touch one (mtime only), delete one.
    t.writeFile('/music/new.ogg', 50, 2)
      .modify('/music/a.flac', { size: 101 })
      .modify('/music/b.mp3', { mtime: 2 })
      .remove('/docs/x.txt');
    await scanAndCheck({ dirs: 7, files: 7, created: 1, updated: 2, deleted: 1, unchanged: 4 });

    // Round 2: delete a directory with a subtree, rename another.
    t.remove('/docs').rename('/music/live', '/music/concerts');
    await scanAndCheck({ dirs: 4, files: 6, created: 1, updated: 0, deleted: 2, unchanged: 5 });

    // Round 3: a file becomes a directory, a directory becomes a file.
    t.remove('/swap').writeFile('/swap/inner.txt', 7, 3);
    t.remove('/became-file').writeFile('/became-file', 11, 3);
    await scanAndCheck({ dirs: 4, files: 6, created: 2, updated: 0, deleted: 2, unchanged: 4 });

    // Round 4: nothing changed: nothing written.
    const writes = entryWriteCounter(fx.dbFile);
    try {
      await scanAndCheck({ created: 0, updated: 0, deleted: 0, unchanged: 6 });
      expect(writes.count()).toBe(0);
      // A directory's own mtime changing is one row written, and no file counted.
      t.modify('/music', { mtime: 99 });
      await scanAndCheck({ created: 0, updated: 0, deleted: 0, unchanged: 6 });
      expect(writes.count()).toBe(1);
    } finally {
      writes.close();
    }
  });

  it('settles exactly on the next scan after a tree that changed while it was scanned', async () => {
    fx = await engineFixture();
    const rand = prng(7);
    for (let i = 0; i < 400; i++) fx.tree.writeFile(`/d${i % 20}/s${i % 9}/f${i}`, i, i);
    await fx.app.scan(fx.storage);
    let n = 0;
    // Between listings: directories vanish (some just before they are listed), files
    // appear, change and turn into directories.
    fx.tree.beforeList = (dir) => {
      const k = n++;
      if (dir !== '/' && k % 7 === 0 && fx.tree.exists(dir)) fx.tree.remove(dir);
      else if (k % 5 === 0) fx.tree.writeFile(`/d${k % 20}/late${k}`, k, k);
      const victim = `/d${Math.floor(rand() * 20)}/s${Math.floor(rand() * 9)}`;
      if (k % 3 === 0 && fx.tree.exists(victim)) fx.tree.remove(victim).writeFile(victim, 1, k);
    };
    const busy = await fx.app.scan(fx.storage, { batchEntries: 15, listers: 3 });
    // Directories removed right before their listing fail it (and keep their entries).
    expect(busy.status).toBe('partial');
    expect(busy.errors).toBeGreaterThan(0);
    for (const e of busy.errorSample) expect(e.code).toBe('NOT_FOUND');
    fx.tree.beforeList = undefined;
    await scanAndCheck({});
    await scanAndCheck({ created: 0, updated: 0, deleted: 0 });
  });

  it('counts each change once when two scans of one storage overlap', async () => {
    fx = await engineFixture();
    for (let i = 0; i < 300; i++) fx.tree.writeFile(`/d${i % 30}/f${i}`, i, i);
    fx.tree.latencyMs = 1;
    const [a, b] = await Promise.all([
      fx.app.scan(fx.storage, { batchEntries: 20, listers: 3 }),
      fx.app.scan(fx.storage, { batchEntries: 35, listers: 2 }),
    ]);
    for (const r of [a, b]) {
      expect(r).toMatchObject({ status: 'succeeded', files: 300, deleted: 0, updated: 0 });
      expect(r.created + r.unchanged).toBe(300);
    }
    expect(a.created + b.created).toBe(300);
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));

    // The worst interleaving, made certain: a scan that read the index before the other
    // wrote finds every row already there, and counts it unchanged, not created.
    fx.tree.writeFile('/d0/late', 1, 1).modify('/d1/f1', { size: 1000 });
    await fx.app.scan(fx.storage);
    const real = fx.app.index.entries;
    const stale: EntryRepository = {
      batchEntries: real.batchEntries,
      childrenOf: async () => new Map(),
      lookup: async () => new Map(),
      apply: (s, r, w) => real.apply(s, r, w),
      countSubtree: (s, d) => real.countSubtree(s, d),
      list: (s, d, o) => real.list(s, d, o),
    };
    const late = await scan(
      { storage: fx.app.storage.handle(fx.storage.id), entries: stale },
      fx.scope,
    );
    expect(late).toMatchObject({ status: 'succeeded', files: 301, created: 0, updated: 0 });
    expect(late.unchanged).toBe(301);
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('matches the tree after 15 random rounds of mutations', async () => {
    fx = await engineFixture();
    const rand = prng(20261127);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const t: MemoryTree = fx.tree;
    for (let i = 0; i < 300; i++) {
      t.writeFile(`/d${i % 7}/s${i % 5}/f${i}.jpg`, i, 1000 + i);
    }
    let before = treeRows(t);
    await scanAndCheck(expectedFileCounts([], before));
    let serial = 0;
    const seen = { created: 0, updated: 0, deleted: 0, unchanged: 0 };
    for (let round = 0; round < 15; round++) {
      for (let k = 0; k < 25; k++) {
        const rows = treeRows(t);
        const files = rows.filter((r) => !r[1]);
        const dirs = rows.filter((r) => r[1]);
        const op = Math.floor(rand() * 8);
        const f = files.length ? pick(files)[0] : undefined;
        const d = dirs.length ? pick(dirs)[0] : undefined;
        if (op === 0 || !f || !d) {
          t.writeFile(`${d ?? ''}/n${serial++}.mkv`, serial, serial);
        } else if (op === 1) t.modify(f, { size: serial++ });
        else if (op === 2) t.modify(f, { mtime: 5_000_000 + serial++ });
        else if (op === 3) t.remove(f);
        else if (op === 4) t.remove(d);
        else if (op === 5) {
          const target = `/r${serial++}`;
          t.rename(d, target);
        } else if (op === 6) {
          t.remove(f).writeFile(`${f}/became-dir.txt`, 1, serial++);
        } else {
          t.remove(d).writeFile(d, serial++, 1);
        }
      }
      const after = treeRows(t);
      const r = await scanAndCheck(expectedFileCounts(before, after));
      for (const k of Object.keys(seen) as Array<keyof typeof seen>) seen[k] += r[k];
      before = after;
    }
    // The rounds really exercised every kind of change.
    for (const n of Object.values(seen)) expect(n).toBeGreaterThan(5);
  });
});
