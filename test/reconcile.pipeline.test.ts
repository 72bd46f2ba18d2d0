/**
 * The reconciler's one-batch pipeline: batch N+1's index reads taken while batch N is being
 * written are used only when N's write cannot have changed a row they read — on both
 * dialects. Each test takes N+1's reads strictly before N writes (N's write waits on a gate
 * until they have returned), so a stale read, if used, shows in the index.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntryRepository, EntryScope } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import type { Reconciler } from '../src/scan/reconciler.js';
import type { ListingPart } from '../src/scan/parts.js';
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
  describe.skipIf(await skipDialect(dialect))(`Reconciler pipeline on ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let scope: EntryScope;
    let counters: ScanCounters;
    /** Directories of each childrenOf call, in order. */
    let reads: string[][];
    /** Released to let the next apply go on. */
    let gate: Gate;
    let gated: boolean;
    let entries: EntryRepository;

    function newGate() {
      gate = closedGate();
    }

    beforeEach(async () => {
      database = await createDatabase(dialect);
      index = await openIndex(database.url);
      scope = await memoryStorageScope(index);
      counters = emptyCounters();
      reads = [];
      gated = false;
      newGate();
      const real = index.entries;
      entries = {
        ...recordingReads(real, (d) => reads.push(d)),
        async apply(s, removals, writes) {
          if (gated) await gate.wait;
          return real.apply(s, removals, writes);
        },
      };
    });

    afterEach(async () => {
      await index?.close();
      await database?.drop();
    });

    const reconciler = (): Reconciler => reconcilerOver(entries, scope, counters);
    const paths = () => indexedPaths(index, scope);

    /** Reconciles `n` while `next`'s reads are taken before `n` writes, then `next`. */
    async function pipelined(r: Reconciler, n: ListingPart[], next: ListingPart[]): Promise<void> {
      gated = true;
      const writing = r.reconcile(n);
      const prefetch = r.prefetch(next);
      await prefetch.children;
      gate.open();
      await writing;
      gated = false;
      await r.reconcile(next, prefetch);
    }

    it('uses the reads taken ahead when the batches share nothing', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a'), dir('/b')])]);
      reads = [];
      await pipelined(r, [part('/a', [file('/a/x')])], [part('/b', [file('/b/y')])]);
      // One read each: batch 2's was the one taken ahead.
      expect(reads).toEqual([['/a'], ['/b']]);
      expect(await paths()).toEqual(['/a', '/a/x', '/b', '/b/y']);
      expect(counters).toMatchObject({ created: 2, unchanged: 0, deleted: 0 });
    });

    it('reads again a directory the previous batch wrote', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/d')]), part('/d', [file('/d/y')])]);
      // Batch N: /d now holds x (y vanished). Batch N+1: /d is empty. Against N+1's stale
      // read ({y}), x would stay indexed.
      await pipelined(r, [part('/d', [file('/d/x')])], [part('/d', [])]);
      expect(await paths()).toEqual(['/d']);
      expect(counters).toMatchObject({ created: 2, deleted: 2 });
    });

    it('reads again a directory under a subtree the previous batch removed', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a')]), part('/a', [dir('/a/sub')])]);
      await r.reconcile([part('/a/sub', [file('/a/sub/f')])]);
      // Batch N: /a/sub vanished (its subtree goes). Batch N+1: /a/sub listed after all,
      // holding f. Against the stale read, f would be "unchanged" and stay missing.
      await pipelined(r, [part('/a', [])], [part('/a/sub', [file('/a/sub/f')])]);
      expect(await paths()).toEqual(['/a', '/a/sub/f']);
      expect(counters).toMatchObject({ created: 2, deleted: 1, unchanged: 0 });
    });

    it('reads again after a paged listing swept what the reads held', async () => {
      const r = reconciler();
      await r.reconcile([
        part('/', [dir('/p')]),
        part('/p', [dir('/p/old'), file('/p/k')]),
        part('/p/old', [file('/p/old/m')]),
      ]);
      // /p in pages: the first keeps k, the last ends it without old, whose subtree the
      // sweep deletes. Then /p/old is listed with m: it must be written again.
      await r.reconcile([part('/p', [file('/p/k')], 'page')]);
      await pipelined(r, [part('/p', [], 'last')], [part('/p/old', [file('/p/old/m')])]);
      expect(await paths()).toEqual(['/p', '/p/k', '/p/old/m']);
      expect(r.openListings).toBe(0);
    });

    it('does not read ahead for paged parts', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a'), dir('/b')])]);
      const writing = r.reconcile([part('/a', [file('/a/x')])]);
      expect(r.prefetch([part('/b', [file('/b/1')], 'page')]).children).toBeUndefined();
      await writing;
      await r.reconcile([part('/b', [file('/b/1')], 'page')]);
      expect(r.prefetch([part('/b', [file('/b/2')], 'last')]).children).toBeUndefined();
      // A whole part while a paged listing is open could be of that listing: not read ahead.
      expect(r.prefetch([part('/a', [file('/a/x')])]).children).toBeUndefined();
      await r.reconcile([part('/b', [file('/b/2')], 'last')]);
      expect(await paths()).toEqual(['/a', '/a/x', '/b', '/b/1', '/b/2']);
    });

    it('writes nothing of the batch read ahead when the write before it fails', async () => {
      const r = reconciler();
      await r.reconcile([part('/', [dir('/a'), dir('/b')])]);
      const real = entries.apply.bind(entries);
      let fail = true;
      entries.apply = async (s, removals, writes) => {
        if (fail) throw new Error('disk I/O error');
        return real(s, removals, writes);
      };
      const writing = r.reconcile([part('/a', [file('/a/x')])]);
      const prefetch = r.prefetch([part('/b', [file('/b/y')])]);
      await expect(writing).rejects.toThrow('disk I/O error');
      expect(prefetch.children).toBeDefined();
      // The scan stops here: the batch read ahead is dropped, nothing of it written.
      fail = false;
      expect(await paths()).toEqual(['/a', '/b']);
      expect(counters).toMatchObject({ created: 0, files: 0 });
    });
  });
}
