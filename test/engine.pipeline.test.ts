/**
 * The engine's one-batch pipeline: the next batch is taken and its reads started while a
 * batch is written; when that write fails, the batch taken ahead is dropped unwritten.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryRepository } from '../src/db/entries.js';
import { scan } from '../src/scan/engine.js';
import { engineFixture, type EngineFixture } from './fixtures/engine.js';

describe('scan engine: one batch read ahead', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  it('fails exactly as before when a write fails with the next batch read ahead, writing none of it', async () => {
    fx = await engineFixture();
    // 20 top directories × 10 subdirectories × 5 files: 220 dirs, 1,000 files.
    for (let i = 0; i < 20; i++)
      for (let j = 0; j < 10; j++)
        for (let k = 0; k < 5; k++) fx.tree.writeFile(`/t${i}/s${j}/f${k}.jpg`, k + 1, i * 100 + j);
    const real = fx.app.index.entries;
    let reads = 0;
    let applies = 0;
    let aheadTaken = false;
    const entries: EntryRepository = {
      batchEntries: real.batchEntries,
      childrenOf(s, d) {
        // The read taken ahead of the failing write fails too, after the write did: its
        // rejection must not surface anywhere (an unhandled rejection fails this test).
        if (++reads === 4) {
          return new Promise((_, reject) =>
            setTimeout(() => reject(new Error('connection lost')), 30),
          );
        }
        return real.childrenOf(s, d);
      },
      lookup: (s, p) => real.lookup(s, p),
      countSubtree: (s, d) => real.countSubtree(s, d),
      list: (s, d, o) => real.list(s, d, o),
      async apply(s, removals, writes) {
        if (++applies < 3) return real.apply(s, removals, writes);
        // Batch 3's write waits until batch 4's read has been taken, then fails.
        for (let t = 0; t < 200 && reads < 4; t++) await new Promise((r) => setTimeout(r, 10));
        aheadTaken = reads >= 4;
        throw new Error('disk I/O error');
      },
    };
    const storage = fx.app.storage.handle(fx.storage.id);
    const r = await scan({ storage, entries }, fx.scope, { batchEntries: 30, batchMs: 5 });
    expect(aheadTaken).toBe(true);
    expect(r.status).toBe('failed');
    expect(r.errorSample).toEqual([
      { path: '/', code: 'INDEX', message: 'index write failed: disk I/O error' },
    ]);
    // What two batches committed, counted exactly; nothing of batches 3 and 4.
    const indexed = await fx.indexed();
    expect(applies).toBe(3);
    expect(r.created).toBe(indexed.filter((e) => !e.isDir).length);
    expect(r.dirs).toBe(indexed.filter((e) => e.isDir).length);
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
});
