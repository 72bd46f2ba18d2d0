/**
 * The marker probes of a directory too large to hold are a guess at files that are mostly not
 * there: a storage that refuses them (a server answering GET with 405, a read denied) must not
 * cost the directory its scan.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { DIALECTS, createDatabase, skipDialect } from './support/databases.js';
import { memoryFixture } from './support/harness.js';

const MARKERS = ['.nomedia', '.ignore', '.trawlignore'];

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`refused marker probes on ${dialect}`, () => {
    const cleanup: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    for (const code of ['PROTOCOL', 'PERMISSION_DENIED'] as const) {
      it(`indexes a 5,000-entry directory whose marker reads fail with ${code}`, async () => {
        const tree = new MemoryTree();
        for (let i = 0; i < 5000; i++) tree.writeFile(`/big/f${i}.jpg`, 1, 1);
        for (const m of MARKERS) tree.failRead(`/big/${m}`, code);
        const db = await createDatabase(dialect);
        cleanup.push(() => db.drop());
        const fx = await memoryFixture({ database: db.url, tree });
        cleanup.push(() => fx.close());
        const first = await fx.app.scan(fx.storage);
        expect(first).toMatchObject({ status: 'succeeded', files: 5000, dirs: 1, errors: 0 });
        // And a rescan after a file went is exact: the directory was listed whole.
        tree.remove('/big/f0.jpg');
        const again = await fx.app.scan(fx.storage);
        expect(again).toMatchObject({ status: 'succeeded', files: 4999, deleted: 1 });
      });
    }
  });
}
