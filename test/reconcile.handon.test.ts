/**
 * The reconciler with an index that commits in call order (`appliesInOrder`, SQLite's
 * writer): a plain batch is handed on before it commits and the next is diffed meanwhile —
 * on both dialects, through a repository that queues its writes in call order. Each test
 * holds the writes on a gate, so what runs before a commit shows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntryRepository, EntryScope } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import type { Reconciler } from '../src/scan/reconciler.js';
import { emptyCounters, type ScanCounters } from '../src/scan/result.js';
import {
  DIALECTS,
  createDatabase,
  memoryStorageScope,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';
import {
  closedGate,
  dir,
  file,
  indexedPaths,
  part,
  reconcilerOver,
  recordingReads,
  type Gate,
} from './support/reconcile-harness.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`Reconciler handing batches on, ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let scope: EntryScope;
    let counters: ScanCounters;
    /** Directories of each childrenOf call, in order. */
    let reads: string[][];
    /** Each apply's first path as it is called, and as it commits. */
    let called: string[];
    let committed: string[];
    /** While closed, writes queue up without committing. */
    let gate: Gate;
    /** The apply calls (counted from 1) that fail instead of writing. */
    let failing: Set<number>;
    let entries: EntryRepository;

    function closeGate() {
      gate = closedGate();
    }

    beforeEach(async () => {
      database = await createDatabase(dialect);
      index = await openIndex(database.url);
      scope = await memoryStorageScope(index);
      counters = emptyCounters();
      reads = [];
      called = [];
      committed = [];
      failing = new Set();
      closeGate();
      gate.open();
      const real = index.entries;
      // One queue: each write starts once the one before it has settled, so they commit in
      // call order whatever the dialect.
      let queue: Promise<unknown> = Promise.resolve();
      entries = {
        ...recordingReads(real, (d) => reads.push(d)),
        appliesInOrder: true,
        apply(s, removals, writes) {
          const n = called.push(writes[0]?.path ?? removals[0]?.path ?? '');
          const run = queue.then(async () => {
            await gate.wait;
            if (failing.has(n)) throw new Error('disk I/O error');
            const r = await real.apply(s, removals, writes);
            committed.push(called[n - 1]!);
            return r;
          });
          queue = run.catch(() => undefined);
          return run;
        },
      };
    });

    afterEach(async () => {
      await index?.close();
      await database?.drop();
    });

    const reconciler = (): Reconciler => reconcilerOver(entries, scope, counters);
    const paths = () => indexedPaths(index, scope);

    /** Whether `p` has settled once pending callbacks have run. */
    async function settled(p: Promise<unknown>): Promise<boolean> {
      let done = false;
      p.then(
        () => (done = true),
        () => (done = true),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      return done;
    }

    it('diffs and hands on the next batch while one is written, committing in order', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a'), dir('/b')])]);
      await r.drain();
      reads = [];
      closeGate();
      const first = r.reconcile([part('/a', [file('/a/x')])]);
      // Handed on: it returns before its write commits.
      expect(await settled(first)).toBe(true);
      const nextBatch = [part('/b', [file('/b/y')])];
      const ahead = r.prefetch(nextBatch);
      const second = r.reconcile(nextBatch, ahead);
      // The second is diffed and handed on too; it returns only once the first is counted.
      expect(await settled(second)).toBe(false);
      expect(called).toEqual(['/a', '/a/x', '/b/y']);
      expect(committed).toEqual(['/a']);
      expect(counters.created).toBe(0);
      gate.open();
      await second;
      await r.drain();
      expect(committed).toEqual(['/a', '/a/x', '/b/y']);
      // One read each: the second batch's was the one taken ahead.
      expect(reads).toEqual([['/a'], ['/b']]);
      expect(await paths()).toEqual(['/a', '/a/x', '/b', '/b/y']);
      expect(counters).toMatchObject({ created: 2, files: 2, unchanged: 0, deleted: 0 });
    });

    it('reads again a directory a batch still in the writer’s hands writes', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/d'), dir('/e')]), part('/d', [file('/d/y')])]);
      await r.drain();
      reads = [];
      closeGate();
      // Two batches handed on (/d now holds x, y vanished; /e), then /d listed empty, its
      // reads taken before either committed. Against them ({y}), x would stay indexed.
      const first = [part('/d', [file('/d/x')])];
      await r.reconcile(first, r.prefetch(first));
      const next = [part('/e', [file('/e/z')])];
      const second = r.reconcile(next, r.prefetch(next));
      const last = [part('/d', [])];
      const ahead = r.prefetch(last);
      await ahead.children;
      expect(await settled(second)).toBe(false);
      expect(called.slice(1)).toEqual(['/d/x', '/e/z']);
      expect(committed).toHaveLength(1);
      gate.open();
      await second;
      await r.reconcile(last, ahead);
      await r.drain();
      // The last batch's read taken ahead is not used: read again once both committed.
      expect(reads).toEqual([['/d'], ['/e'], ['/d'], ['/d']]);
      expect(await paths()).toEqual(['/d', '/e', '/e/z']);
      expect(counters).toMatchObject({ created: 3, deleted: 2 });
    });

    it('lets every batch handed on commit before a paged part is read', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a'), dir('/p')])]);
      await r.drain();
      closeGate();
      await r.reconcile([part('/a', [file('/a/x')])]);
      const paged = r.reconcile([part('/p', [file('/p/1')], 'page')]);
      expect(await settled(paged)).toBe(false);
      // Not handed on behind the open write: the paged part waits for it to commit.
      expect(called).toEqual(['/a', '/a/x']);
      gate.open();
      await paged;
      await r.reconcile([part('/p', [file('/p/2')], 'last')]);
      expect(committed).toEqual(['/a', '/a/x', '/p/1', '/p/2']);
      expect(await paths()).toEqual(['/a', '/a/x', '/p', '/p/1', '/p/2']);
      expect(counters).toMatchObject({ created: 3, files: 3 });
    });

    it('counts what a batch handed on committed when the write before it failed', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a'), dir('/b')])]);
      await r.drain();
      closeGate();
      failing.add(2);
      await r.reconcile([part('/a', [file('/a/x')])]);
      const next = [part('/b', [file('/b/y')])];
      const second = r.reconcile(next, r.prefetch(next));
      second.catch(() => undefined);
      gate.open();
      await expect(second).rejects.toThrow('disk I/O error');
      await r.settle();
      await expect(r.drain()).rejects.toThrow('disk I/O error');
      // The second batch was handed on before the first failed, and committed: counted.
      expect(await paths()).toEqual(['/a', '/b', '/b/y']);
      expect(counters).toMatchObject({ created: 1, files: 1 });
    });
  });
}
