import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openIndex } from '../src/db/open.js';
import { DIALECTS, createDatabase, skipDialect } from './support/databases.js';
import { buildChild, runChild } from './support/db-build.js';
import { gridTree } from './support/db-trees.js';
import { indexRows, memoryFixture, treeRows } from './support/harness.js';
import { MIGRATION_NAMES } from '../src/db/migrations/index.js';

const run = promisify(execFile);
let child: { script: string; cleanup: () => void };
beforeAll(async () => {
  child = await buildChild();
});
afterAll(() => child?.cleanup());

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`a scan process on ${dialect}`, () => {
    it('migrates once when several processes open a fresh index at once', async () => {
      const db = await createDatabase(dialect);
      try {
        const open = pathToFileURL(join(dirname(child.script), '../../src/db/open.js')).href;
        // Every process loads its modules first, then all open the index at one instant.
        const at = Date.now() + 2000;
        const code = `const { openIndex } = await import(${JSON.stringify(open)});
          await new Promise((r) => setTimeout(r, ${at} - Date.now()));
          const index = await openIndex(${JSON.stringify(db.url)});
          await index.close();`;
        const exits = await Promise.all(
          Array.from({ length: 6 }, () =>
            run(process.execPath, ['--input-type=module', '-e', code]).then(
              () => 0,
              (error: { code?: number; stderr?: string }) => error.stderr ?? error.code,
            ),
          ),
        );
        expect(exits).toEqual([0, 0, 0, 0, 0, 0]);
        const index = await openIndex(db.url);
        try {
          const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(
            index.db,
          );
          expect(rows.map((r) => r.name)).toEqual(MIGRATION_NAMES);
        } finally {
          await index.close();
        }
      } finally {
        await db.drop();
      }
    });

    it('killed between batches leaves a consistent index that the next scan completes', async () => {
      const db = await createDatabase(dialect);
      try {
        const [dirs, filesPerDir] = [200, 60];
        const early = await runChild(child.script, {
          database: db.url,
          dirs,
          filesPerDir,
          batchEntries: 400,
          exitAfterBatches: 6,
        });
        expect(early).toBeUndefined(); // it really died half-way, printing nothing

        const tree = gridTree(dirs, filesPerDir);
        const truth = new Map(treeRows(tree).map((r) => [r[0], r]));
        const fx = await memoryFixture({ database: db.url, tree });
        try {
          // The storage the child registered, found again by its location.
          const storage = await fx.app.index.storages.findByLocation(
            fx.app.tenantId,
            'memory',
            'memory://grid',
          );
          expect(storage).toBeDefined();
          const scope = { tenantId: fx.app.tenantId, storageId: storage!.id };
          const left = [];
          for await (const e of fx.app.index.entries.list(scope, '/', { recursive: true })) {
            left.push(e);
          }
          // Every row is whole and true to the tree: nothing half-written.
          expect(left.length).toBeGreaterThan(0);
          expect(left.length).toBeLessThan(truth.size);
          for (const row of indexRows(left)) expect(row).toEqual(truth.get(row[0]));
          const filesLeft = left.filter((e) => !e.isDir).length;

          await fx.app.index.storages.upsert({
            tenantId: fx.app.tenantId,
            name: 'grid',
            kind: 'memory',
            location: 'memory://grid',
            options: { volume: fx.volume },
          });
          const next = await fx.app.scan(storage!);
          expect(next).toMatchObject({
            status: 'succeeded',
            files: dirs * filesPerDir,
            created: dirs * filesPerDir - filesLeft,
            updated: 0,
            deleted: 0,
            unchanged: filesLeft,
          });
          const all = [];
          for await (const e of fx.app.index.entries.list(scope, '/', { recursive: true })) {
            all.push(e);
          }
          expect(indexRows(all)).toEqual(treeRows(tree));
        } finally {
          await fx.close();
        }
      } finally {
        await db.drop();
      }
    });

    it('reconciles 1,000,000 entries with flat memory', { timeout: 180_000 }, async () => {
      const db = await createDatabase(dialect);
      try {
        const [dirs, filesPerDir] = [10_000, 99];
        const report = await runChild(
          child.script,
          { database: db.url, dirs, filesPerDir, sampleMemory: true },
          ['--expose-gc'],
        );
        expect(report).toMatchObject({ status: 'succeeded', files: 990_000, created: 990_000 });
        // Before the scan, then at 1/4, 2/4, 3/4 of the entries, then at the end.
        const heap = report!.heapMb;
        expect(heap).toHaveLength(5);
        // What the scan holds must not grow with what it has seen: 750,000 entries between
        // the first quarter and the end would cost ≥ 50 MB if any per-entry state stayed.
        expect(heap[4]! - heap[1]!).toBeLessThan(16);
        expect(Math.max(...heap.slice(1)) - heap[0]!).toBeLessThan(64);

        const index = await openIndex(db.url);
        try {
          const counts = await index.entries.countSubtree({ tenantId: 1, storageId: 1 }, '/');
          expect(counts).toEqual({ files: 990_000, dirs: dirs + dirs / 100 });
        } finally {
          await index.close();
        }
      } finally {
        await db.drop();
      }
    });
  });
}
