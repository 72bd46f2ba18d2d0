import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { StorageWatch } from '../src/jobs/watch/storage-watch.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import type { IndexedEntry } from '../src/db/entries.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { sleep } from '../src/util/sleep.js';
import { createDatabase, DIALECTS, skipDialect, type TestDatabase } from './support/databases.js';
import { diskRows, indexRows, tempDir } from './support/harness.js';
import { TreeMutator } from './support/mutations.js';

const MUTATIONS = 10_000;
/** Mutations between two checks that the index equals the disk. */
const CHECK_EVERY = 2_000;

async function indexed(app: App, storage: StorageRecord): Promise<IndexedEntry[]> {
  const out: IndexedEntry[] = [];
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  for await (const e of app.index.entries.list(scope, '/', { recursive: true })) out.push(e);
  return out;
}

/**
 * Waits until the watch has applied everything up to a file written last: the kernel hands
 * one inotify instance's events over in order, so once the watch has applied the sentinel's
 * event it has applied every earlier one.
 */
async function settle(watch: StorageWatch, app: App, storage: StorageRecord, root: string) {
  const name = `zz-sentinel-${Date.now()}`;
  writeFileSync(join(root, name), 'done');
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  for (;;) {
    await watch.idle();
    const found = await app.index.entries.lookup(scope, [`/${name}`]);
    if (found.size === 1) {
      await watch.idle();
      return;
    }
    await sleep(20);
  }
}

for (const dialect of DIALECTS) {
  describe(`trawl watch drill (${dialect})`, () => {
    let db: TestDatabase | undefined;
    let app: App | undefined;
    let watch: StorageWatch | undefined;
    let cleanup: (() => void) | undefined;
    afterEach(async () => {
      await watch?.stop();
      await app?.close();
      await db?.drop();
      cleanup?.();
      watch = app = db = undefined;
    });

    it(`keeps the index exact through ${MUTATIONS.toLocaleString('en')} random mutations`, async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const tmp = tempDir('trawl-watch-');
      cleanup = tmp.cleanup;
      const mutator = new TreeMutator(tmp.path, dialect === 'sqlite' ? 11 : 12);
      mutator.seed(40, 400);
      db = await createDatabase(dialect);
      app = await App.open({ database: db.url, tenant: 'default' });
      const storage = await app.ensureStorage(parseStorageSpec(tmp.path));
      watch = await StorageWatch.start(app, storage, { rescanEveryMs: 0, settleMs: 50 });
      await watch.idle();
      expect(indexRows(await indexed(app, storage))).toEqual(diskRows(tmp.path));

      const started = Date.now();
      let checks = 0;
      for (let i = 1; i <= MUTATIONS; i++) {
        mutator.step();
        // Let the watch apply while the tree changes, as it would beside a real writer: in
        // bursts of 250 mutations, each given a moment to be applied.
        if (i % 25 === 0) await yieldToLoop();
        if (i % 250 === 0) {
          await sleep(5);
          await watch.idle();
        }
        // Exact at every checkpoint, not only at the end.
        if (i % CHECK_EVERY === 0) {
          await settle(watch, app, storage, tmp.path);
          expect(indexRows(await indexed(app, storage))).toEqual(diskRows(tmp.path));
          checks++;
        }
      }
      const settledMs = Date.now() - started;
      expect(checks).toBe(MUTATIONS / CHECK_EVERY);
      const s = watch.stats;
      console.log(
        `watch drill (${dialect}): ${MUTATIONS} mutations ${JSON.stringify(mutator.counts)} ` +
          `tree now ${JSON.stringify(mutator.size)}, ` +
          `index exact at ${checks} checkpoints, the last ${settledMs} ms after the first mutation; applies ${s.applies} (full scans ${s.fullScans}), ` +
          `directories listed ${s.steps}, created ${s.created}, updated ${s.updated}, deleted ${s.deleted}, ` +
          `kernel overflows ${s.overflows}, coarsened ${s.coarsened}, watches ${s.watches}`,
      );
      // The event path did the work: no full scan after the first, unless an overflow asked.
      expect(s.fullScans).toBe(1 + s.overflows);
    }, 120_000);
  });
}
