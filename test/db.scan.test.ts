import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { openIndex } from '../src/db/open.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import {
  DIALECTS,
  createDatabase,
  rowsWritten,
  skipDialect,
  withPg,
  type TestDatabase,
} from './support/databases.js';
import { gridTree, mutateGrid } from './support/db-trees.js';
import { indexRows, memoryFixture, treeRows, type MemoryFixture } from './support/harness.js';
import { MIGRATION_NAMES } from '../src/db/migrations/index.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`scans into ${dialect}`, () => {
    const cleanup: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    async function fixture(tree: MemoryTree): Promise<{ fx: MemoryFixture; db: TestDatabase }> {
      const db = await createDatabase(dialect);
      cleanup.push(() => db.drop());
      const fx = await memoryFixture({ database: db.url, tree });
      cleanup.push(() => fx.close());
      return { fx, db };
    }

    it('counts mutation rounds exactly, and an unchanged rescan writes no row', async () => {
      const tree = gridTree(30, 40);
      const { fx } = await fixture(tree);
      const first = await fx.app.scan(fx.storage, { batchEntries: 500 });
      expect(first).toMatchObject({ status: 'succeeded', dirs: 31, files: 1200, created: 1200 });
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));

      let rescan: Awaited<ReturnType<App['scan']>> | undefined;
      const written = await rowsWritten(fx.app.index, async () => {
        rescan = await fx.app.scan(fx.storage, { batchEntries: 500 });
      });
      expect(written).toBe(0);
      expect(rescan).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 1200 });

      const m = mutateGrid(tree, 30, 40, { modEvery: 10, delEvery: 20, addPerDir: 2 });
      tree.rename('/top0/d3', '/top0/moved').remove('/top0/d4');
      const files = 1200 - m.deleted + m.added;
      const third = await fx.app.scan(fx.storage, { batchEntries: 500 });
      // d3 and d4 each had 2 of the deletions and 2 of the additions (40 files, evenly
      // spread); d3's 40 are deleted and created again under the new name, d4's 40 are gone.
      expect(third).toMatchObject({
        status: 'succeeded',
        files: files - 40,
        created: m.added - 2 - 2 + 40,
        deleted: m.deleted - 2 - 2 + 40 + 40,
      });
      expect(third.created + third.updated + third.unchanged).toBe(third.files);
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
    });

    it('lets two scans of one storage run at once: no duplicates, exact totals', async () => {
      const tree = gridTree(40, 50);
      tree.latencyMs = 1;
      const { fx, db } = await fixture(tree);
      const other = await App.open({ database: db.url, tenant: 'default' });
      cleanup.push(() => other.close());
      const both = () =>
        Promise.all([
          fx.app.scan(fx.storage, { batchEntries: 300, listers: 4 }),
          other.scan(fx.storage, { batchEntries: 300, listers: 4 }),
        ]);

      const [a, b] = await both();
      for (const r of [a, b]) expect(r).toMatchObject({ status: 'succeeded', errors: 0 });
      // Each scan lists at most 4 directories at a time: more in flight means both ran at once.
      expect(tree.stats.maxInFlight).toBeGreaterThan(4);
      // Each file was created by exactly one of them; the other found it already there.
      expect(a.created + b.created).toBe(2000);
      expect(a.updated + b.updated).toBe(0);

      const m = mutateGrid(tree, 40, 50, { modEvery: 10, delEvery: 20, addPerDir: 3 });
      tree.remove('/top0/d7');
      const [c, d] = await both();
      for (const r of [c, d]) expect(r).toMatchObject({ status: 'succeeded', errors: 0 });
      expect(c.created + d.created).toBe(m.added - 3);
      // d7 (files 350–399) had 3 deletions, 5 changes and 3 additions; all 50 indexed go.
      expect(c.deleted + d.deleted).toBe(m.deleted - 3 + 50);
      expect(c.updated + d.updated).toBe(m.modified - 5);

      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
      const { rows } = await sql<{ n: number }>`
        SELECT count(*) AS n FROM (
          SELECT path FROM entries GROUP BY storage_id, tenant_id, path HAVING count(*) > 1) d`.execute(
        fx.app.index.db,
      );
      expect(Number(rows[0]!.n)).toBe(0);
    });

    it('keeps a failed directory and fails a dead root without changing anything', async () => {
      const tree = new MemoryTree().writeFile('/a/b/c.mkv', 10, 1).writeFile('/x/y.txt', 1, 1);
      const { fx } = await fixture(tree);
      await fx.app.scan(fx.storage);
      tree.remove('/a/b/c.mkv').failDir('/a', 'PERMISSION_DENIED');
      expect((await fx.app.scan(fx.storage)).status).toBe('partial');
      expect((await fx.indexed()).map((e) => e.path)).toContain('/a/b/c.mkv');
      tree.clearFaults().failDir('/', 'UNAVAILABLE').remove('/x');
      let failed: Awaited<ReturnType<App['scan']>> | undefined;
      expect(
        await rowsWritten(fx.app.index, async () => {
          failed = await fx.app.scan(fx.storage);
        }),
      ).toBe(0);
      expect(failed?.status).toBe('failed');
    });
  });
}

describe.skipIf(await skipDialect('postgres'))('PostgreSQL migrations', () => {
  it('apply once when several processes open a fresh database at once', async () => {
    const db = await createDatabase('postgres');
    try {
      const opened = await Promise.all(Array.from({ length: 6 }, () => openIndex(db.url)));
      await Promise.all(opened.map((i) => i.close()));
      await withPg(db.url, async (c) => {
        const { rows } = await c.query('SELECT name FROM kysely_migration ORDER BY name');
        expect(rows.map((r: { name: string }) => r.name)).toEqual(MIGRATION_NAMES);
        const collation = await c.query(
          `SELECT collation_name FROM information_schema.columns
           WHERE table_name = 'entries' AND column_name = 'path'`,
        );
        expect(collation.rows[0]).toEqual({ collation_name: 'C' });
      });
    } finally {
      await db.drop();
    }
  });

  it('names the database in the error when it cannot be reached', async () => {
    await expect(openIndex('postgres://nobody:secret@127.0.0.1:1/none')).rejects.toThrow(
      /cannot use index database postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/,
    );
  });
});
