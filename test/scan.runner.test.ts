/**
 * The runner around the engine: what a scan reports and records when the storage is slow
 * to connect, when it is cancelled before its first listing, and when the index fails at
 * the end. Real SQLite and memory storages; the scan history is faked only where a failure
 * has to happen at one exact write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryRepository } from '../src/db/entries.js';
import type { ScanRepository } from '../src/db/repositories/scans.js';
import { runScan } from '../src/scan/runner.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

function smallTree(): MemoryTree {
  const tree = new MemoryTree();
  for (let i = 0; i < 5; i++) tree.writeFile(`/d/f${i}.txt`, i, i);
  return tree;
}

describe(runScan.name, () => {
  let fx: MemoryFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('reports the time from its start, the storage connect included', async () => {
    fx = await memoryFixture({ tree: smallTree() });
    fx.tree.connectLatencyMs = 400;
    const result = await fx.app.scan(fx.storage);
    expect(result.status).toBe('succeeded');
    // Before: the clock started in the engine, after the connect.
    expect(result.durationMs).toBeGreaterThanOrEqual(400);
    const row = await fx.app.index.scans.get(result.scanId!);
    expect(row?.durationMs).toBe(result.durationMs);
  });

  it('stops waiting for a slow connect at once when cancelled, and records it cancelled', async () => {
    fx = await memoryFixture({ tree: smallTree() });
    fx.tree.connectLatencyMs = 2_000;
    const controller = new AbortController();
    const scanning = fx.app.scan(fx.storage, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 100));
    const aborted = Date.now();
    controller.abort();
    const result = await scanning;
    // Before: the runner waited out the whole connect.
    expect(Date.now() - aborted).toBeLessThan(500);
    expect(result).toMatchObject({ status: 'cancelled', recorded: true, files: 0 });
    expect(await fx.app.index.scans.get(result.scanId!)).toMatchObject({ status: 'cancelled' });
  });

  it('resolves with a failed result, the cause named, when the index refuses the scan’s end', async () => {
    fx = await memoryFixture({ tree: smallTree() });
    const real = fx.app.index.scans;
    // The history takes the start, then its database is locked for the end.
    const scans = {
      start: (...a: Parameters<ScanRepository['start']>) => real.start(...a),
      finish: async () => {
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      },
    } as unknown as ScanRepository;
    const result = await runScan(
      { storage: fx.app.storage, entries: fx.app.index.entries, scans },
      { tenantId: fx.storage.tenantId, storageId: fx.storage.id },
    );
    // Before: runScan threw, and the caller had no result to print.
    expect(result).toMatchObject({ status: 'failed', recorded: false, files: 5, created: 5 });
    expect(result.errorSample.at(-1)).toEqual({
      path: '/',
      code: 'INDEX_LOCKED',
      message: expect.stringMatching(
        /^could not record the end of scan \d+, which stays "running" in the history: the index is locked by another process/,
      ),
    });
    expect(await real.get(result.scanId!)).toMatchObject({ status: 'running' });
  });

  it('tells the repository what a finished scan created, once its end is recorded', async () => {
    fx = await memoryFixture({ tree: smallTree() });
    const real = fx.app.index.entries;
    const calls: { created: number; recorded: string | undefined }[] = [];
    const entries: EntryRepository = {
      batchEntries: real.batchEntries,
      childrenOf: (...a) => real.childrenOf(...a),
      lookup: (...a) => real.lookup(...a),
      apply: (...a) => real.apply(...a),
      countSubtree: (...a) => real.countSubtree(...a),
      list: (...a) => real.list(...a),
      afterScan: async (created: number) => {
        const rows = await fx!.app.index.scans.list({ tenantId: fx!.storage.tenantId });
        calls.push({ created, recorded: rows[0]?.status });
      },
    };
    const deps = { storage: fx.app.storage, entries, scans: fx.app.index.scans };
    const target = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
    expect(await runScan(deps, target)).toMatchObject({ status: 'succeeded', created: 5 });
    // An unchanged rescan created nothing: nothing to tidy.
    expect(await runScan(deps, target)).toMatchObject({ status: 'succeeded', created: 0 });
    expect(calls).toEqual([{ created: 5, recorded: 'succeeded' }]);
  });

  /** The index's entries with every read refused: a scan that reads one fails. */
  const unreadable = (entries: EntryRepository): EntryRepository => {
    const refuse = () => {
      throw new Error('read the index');
    };
    return {
      batchEntries: entries.batchEntries,
      appliesInOrder: entries.appliesInOrder,
      childrenOf: refuse,
      lookup: refuse,
      countSubtree: refuse,
      list: refuse,
      apply: (...a) => entries.apply(...a),
    };
  };

  it('reads nothing from the index for a dry run of a storage it holds no row of', async () => {
    fx = await memoryFixture({ tree: smallTree() });
    const deps = {
      storage: fx.app.storage,
      entries: unreadable(fx.app.index.entries),
      scans: fx.app.index.scans,
    };
    const target = { tenantId: fx.storage.tenantId, storageId: fx.storage.id, unindexed: true };
    const dry = await runScan(deps, target, { dryRun: true });
    expect(dry).toMatchObject({ status: 'succeeded', dirs: 1, files: 5, created: 5, errors: 0 });
    // A scan that writes still reads what it writes against, whatever it was told.
    const real = await runScan(deps, target);
    expect(real.status).toBe('failed');
    expect(real.errorSample[0]?.message).toMatch(/read the index/);
  });

  it('reads the index for a dry run of a storage it was not told holds nothing', async () => {
    fx = await memoryFixture({ tree: smallTree() });
    const deps = {
      storage: fx.app.storage,
      entries: unreadable(fx.app.index.entries),
      scans: fx.app.index.scans,
    };
    const target = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
    const dry = await runScan(deps, target, { dryRun: true });
    expect(dry.status).toBe('failed');
  });

  it("tells the runner a dry run's storage that lives only in this process holds nothing", async () => {
    fx = await memoryFixture({ tree: smallTree() });
    const spec = { kind: 'memory', location: 'memory://elsewhere', options: fx.storage.options };
    const storage = await fx.app.storageForDryRun(spec as never);
    expect(storage.id).toBeLessThan(0);
    const entries = fx.app.index.entries;
    entries.childrenOf = () => Promise.reject(new Error('read the index'));
    const dry = await fx.app.scan(storage, { dryRun: true });
    expect(dry).toMatchObject({ status: 'succeeded', files: 5, created: 5 });
    // A registered storage's dry run reads its rows.
    const known = await fx.app.scan(fx.storage, { dryRun: true });
    expect(known.status).toBe('failed');
  });
});
