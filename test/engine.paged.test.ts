/**
 * Directories too large to hold whole: listed in pages, reconciled page by page, deleted
 * from only once the last page is in — on both dialects.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { MemoryBudget } from '../src/storage/limits/budget.js';
import { MemoryTree, type GeneratedFile } from '../src/storage/backends/memory-tree.js';
import type { StorageHandle } from '../src/storage/service.js';
import type { Entry, TreeListing } from '../src/storage/types.js';
import { DIALECTS, createDatabase, rowsWritten, skipDialect } from './support/databases.js';
import { indexRows, memoryFixture, treeRows, type MemoryFixture } from './support/harness.js';
import { listAll } from './support/list-all.js';

/** `count` files named f0000000… in `dir`, size and mtime from `version`. */
function files(version: (i: number) => number) {
  return (i: number): GeneratedFile => ({
    name: `f${String(i).padStart(7, '0')}`,
    size: version(i),
    mtime: 1_000 + version(i),
  });
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`paged listings into ${dialect}`, () => {
    const cleanup: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    async function fixture(tree: MemoryTree): Promise<MemoryFixture> {
      const db = await createDatabase(dialect);
      cleanup.push(() => db.drop());
      const fx = await memoryFixture({ database: db.url, tree });
      cleanup.push(() => fx.close());
      return fx;
    }

    it('reconciles a directory of 12,000 entries page by page: exact, then 0 writes, then exact deletions', async () => {
      const tree = new MemoryTree();
      tree.writeFile('/big/aa-regular.txt', 5, 5).mkdir('/big/sub').writeFile('/big/sub/x', 1, 1);
      tree.generate(
        '/big',
        12_000,
        files(() => 1),
      );
      const fx = await fixture(tree);
      const first = await fx.app.scan(fx.storage);
      expect(first).toMatchObject({
        status: 'succeeded',
        files: 12_002,
        dirs: 2,
        created: 12_002,
        errors: 0,
      });
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));

      let rescan: Awaited<ReturnType<typeof fx.app.scan>> | undefined;
      const written = await rowsWritten(fx.app.index, async () => {
        rescan = await fx.app.scan(fx.storage);
      });
      expect(written).toBe(0);
      expect(rescan).toMatchObject({ status: 'succeeded', unchanged: 12_002, deleted: 0 });

      // 2,000 vanish (the tail), every 7th changes, the regular file and the subtree go.
      tree.generate(
        '/big',
        10_000,
        files((i) => (i % 7 === 0 ? 2 : 1)),
      );
      tree.remove('/big/aa-regular.txt').remove('/big/sub');
      const third = await fx.app.scan(fx.storage);
      expect(third).toMatchObject({
        status: 'succeeded',
        files: 10_000,
        created: 0,
        updated: Math.ceil(10_000 / 7),
        deleted: 2_000 + 1 + 1,
      });
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
    });

    it('applies what a listing cut short delivered and deletes nothing in that directory', async () => {
      const tree = new MemoryTree();
      tree.generate(
        '/big',
        9_000,
        files(() => 1),
      );
      tree.writeFile('/small/a', 1, 1).writeFile('/small/b', 1, 1);
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);
      const before = indexRows(await fx.indexed());

      // The server now lists fewer, changed entries — and drops the connection after 5,000.
      tree.generate(
        '/big',
        8_000,
        files(() => 3),
      );
      tree.failDir('/big', { code: 'UNAVAILABLE', afterEntries: 5_000, times: 5 });
      const r = await fx.app.scan(fx.storage);
      expect(r.status).toBe('partial');
      expect(r.errorSample).toEqual([
        expect.objectContaining({ path: '/big', code: 'UNAVAILABLE' }),
      ]);
      expect(r).toMatchObject({ updated: 5_000, deleted: 0 });
      const after = indexRows(await fx.indexed());
      const big = (rows: typeof after) => rows.filter((x) => x[0].startsWith('/big/'));
      expect(big(after)).toHaveLength(9_000); // nothing deleted
      expect(big(after).filter((x) => x[2] === 3)).toHaveLength(5_000); // the 5,000 applied
      expect(after.filter((x) => !x[0].startsWith('/big/'))).toEqual(
        before.filter((x) => !x[0].startsWith('/big/')),
      );

      tree.clearFaults();
      const healed = await fx.app.scan(fx.storage);
      expect(healed).toMatchObject({ status: 'succeeded', deleted: 1_000, updated: 3_000 });
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
    });

    it('applies the good entries of a listing with unreadable ones, deletes nothing there, counts them', async () => {
      const tree = new MemoryTree();
      tree.writeFile('/d/keep', 1, 1).writeFile('/d/gone', 1, 1).writeFile('/other/x', 1, 1);
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);

      tree.remove('/d/gone').writeFile('/d/new', 2, 2).modify('/d/keep', { size: 9 });
      // The whole listing arrives, then the backend reports 2 entries it could not read.
      tree.failDir('/d', {
        code: 'PROTOCOL',
        message: '2 entries could not be read',
        afterEntries: 2,
        invalidEntries: 2,
        times: 1,
      });
      const r = await fx.app.scan(fx.storage);
      expect(r).toMatchObject({
        status: 'partial',
        errors: 1,
        invalidEntries: 2,
        created: 1,
        updated: 1,
        deleted: 0,
      });
      expect(r.errorSample[0]).toMatchObject({ path: '/d', code: 'PROTOCOL' });
      const paths = (await fx.indexed()).map((e) => e.path);
      expect(paths).toContain('/d/gone'); // not deleted on the strength of a listing with holes
      expect(paths).toContain('/d/new');
      expect((await fx.app.index.scans.get(r.scanId!))?.invalidEntries).toBe(2);

      const healed = await fx.app.scan(fx.storage);
      expect(healed).toMatchObject({ status: 'succeeded', deleted: 1, invalidEntries: 0 });
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
    });

    it('deletes nothing in a paged directory whose listing names an entry twice', async () => {
      const tree = new MemoryTree();
      tree.generate(
        '/big',
        5_000,
        files(() => 1),
      );
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);
      // Page 5 repeats a name of page 1, and 1,000 entries are missing.
      tree.generate('/big', 4_000, (i) => files(() => 1)(i < 3_999 ? i : 5));
      const r = await fx.app.scan(fx.storage);
      expect(r.status).toBe('partial');
      expect(r.errorSample[0]).toMatchObject({ path: '/big', code: 'PROTOCOL' });
      expect(r.errorSample[0]!.message).toMatch(/twice/);
      expect((await fx.indexed()).filter((e) => e.path.startsWith('/big/'))).toHaveLength(5_000);
    });
  });
}

describe('paged listings: bounds, tree pages, memory budget', () => {
  let fx: MemoryFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('does not list past maxTreeDepth or maxPathBytes: PROTOCOL, partial, what is above is kept', async () => {
    const tree = new MemoryTree();
    let deep = '';
    for (let i = 0; i < 12; i++) deep += `/loop${i}`;
    tree.writeFile(`${deep}/leaf`, 1, 1);
    tree.writeFile(`/${'n'.repeat(200)}/${'m'.repeat(200)}/file`, 1, 1);
    fx = await memoryFixture({ tree });
    const r = await fx.app.scan(fx.storage, { maxTreeDepth: 5, maxPathBytes: 300 });
    expect(r.status).toBe('partial');
    expect(r.errorSample.map((e) => [e.path, e.code])).toEqual(
      expect.arrayContaining([
        ['/loop0/loop1/loop2/loop3/loop4/loop5', 'PROTOCOL'],
        [`/${'n'.repeat(200)}/${'m'.repeat(200)}`, 'PROTOCOL'],
      ]),
    );
    expect(r.errors).toBe(2);
    const paths = (await fx.indexed()).map((e) => e.path);
    expect(paths).toContain('/loop0/loop1/loop2/loop3/loop4/loop5');
    expect(paths).not.toContain('/loop0/loop1/loop2/loop3/loop4/loop5/loop6');
  });

  it('reconciles a tree listing that hands a huge directory over in pieces', async () => {
    const tree = new MemoryTree();
    tree.generate(
      '/flat',
      7_500,
      files(() => 1),
    );
    tree.writeFile('/flat/zz/inner', 1, 1);
    fx = await memoryFixture({ tree });
    const { app, storage } = fx;
    const real = app.storage.handle(storage.id);
    const scope = { tenantId: storage.tenantId, storageId: storage.id };
    const deps = (entriesOf: (dir: string) => Promise<Entry[]>): StorageHandle => ({
      storageId: real.storageId,
      check: () => real.check(),
      list: (dir, o) => real.list(dir, o),
      async *listTree(root): AsyncIterable<TreeListing> {
        const top = await entriesOf(root);
        yield { dir: root, entries: top };
        const flat = await entriesOf('/flat');
        // /flat in pieces of 1,000; its subdirectory /flat/zz comes after the piece naming it.
        for (let i = 0; i < flat.length; i += 1_000) {
          const piece = flat.slice(i, i + 1_000);
          yield { dir: '/flat', entries: piece, more: true };
          if (piece.some((e) => e.name === 'zz')) {
            yield { dir: '/flat/zz', entries: await entriesOf('/flat/zz') };
          }
        }
        yield { dir: '/flat', entries: [] };
      },
    });
    const first = await scan(
      { storage: deps((d) => listAll(real.list(d))), entries: app.index.entries },
      scope,
    );
    expect(first).toMatchObject({ status: 'succeeded', files: 7_501, created: 7_501 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));

    tree.generate(
      '/flat',
      6_000,
      files(() => 2),
    );
    const second = await scan(
      { storage: deps((d) => listAll(real.list(d))), entries: app.index.entries },
      scope,
    );
    expect(second).toMatchObject({ status: 'succeeded', updated: 6_000, deleted: 1_500 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
  });

  it('shares one memory budget between scans without deadlock, and returns every byte', async () => {
    const tree = new MemoryTree();
    for (let d = 0; d < 6; d++)
      tree.generate(
        `/d${d}`,
        6_000,
        files(() => d),
      );
    fx = await memoryFixture({ tree });
    const { app, storage } = fx;
    const budget = new MemoryBudget(256 * 1024); // far below what the listings hold in total
    const handle = app.storage.handle(storage.id);
    const scope = { tenantId: storage.tenantId, storageId: storage.id };
    const r = await scan({ storage: handle, entries: app.index.entries, budget }, scope, {
      listers: 6,
    });
    expect(r).toMatchObject({ status: 'succeeded', files: 36_000 });
    expect(budget.used).toBe(0);
    // Never more than the budget plus one part admitted alone.
    expect(budget.peak).toBeLessThanOrEqual(256 * 1024 + 2_000 * 400);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    tree.latencyMs = 5;
    const cancelled = await scan({ storage: handle, entries: app.index.entries, budget }, scope, {
      listers: 6,
      signal: controller.signal,
    });
    expect(cancelled.status).toBe('cancelled');
    expect(budget.used).toBe(0);
  });
});
