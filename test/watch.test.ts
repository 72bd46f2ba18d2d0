import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import { WatchError } from '../src/jobs/watch/events.js';
import { StorageWatch, type WatchActivity } from '../src/jobs/watch/storage-watch.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { createDatabase, DIALECTS, skipDialect, type TestDatabase } from './support/databases.js';
import { diskRows, indexRows, memoryFixture, tempDir } from './support/harness.js';
import { until } from './support/trawl-process.js';

async function indexedRows(app: App, storage: StorageRecord) {
  const out = [];
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  for await (const e of app.index.entries.list(scope, '/', { recursive: true })) out.push(e);
  return indexRows(out);
}

async function has(app: App, storage: StorageRecord, path: string): Promise<boolean> {
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  return (await app.index.entries.lookup(scope, [path])).size === 1;
}

for (const dialect of DIALECTS) {
  describe(`${StorageWatch.name} (${dialect})`, () => {
    let db: TestDatabase | undefined;
    let app: App | undefined;
    let watch: StorageWatch | undefined;
    const cleanups: Array<() => void> = [];
    afterEach(async () => {
      await watch?.stop();
      await app?.close();
      await db?.drop();
      for (const c of cleanups.splice(0)) c();
      watch = app = db = undefined;
    });

    async function open(): Promise<{ root: string; storage: StorageRecord }> {
      const tmp = tempDir('trawl-watch-');
      cleanups.push(tmp.cleanup);
      db = await createDatabase(dialect);
      app = await App.open({ database: db.url, tenant: 'default' });
      const storage = await app.ensureStorage(parseStorageSpec(tmp.path));
      return { root: tmp.path, storage };
    }

    it('waits while another holder has the lease, then applies what changed meanwhile', async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const { root, storage } = await open();
      writeFileSync(join(root, 'a.txt'), 'a');
      const seen: WatchActivity[] = [];
      watch = await StorageWatch.start(app!, storage, {
        rescanEveryMs: 0,
        settleMs: 10,
        pollMs: 50,
        onActivity: (a) => seen.push(a),
      });
      await watch.idle();
      const other = await app!.leases.tryAcquire(storage.id, 'scan@elsewhere');
      expect(other).toBeDefined();
      writeFileSync(join(root, 'b.txt'), 'b');
      await until(() => seen.some((a) => a.kind === 'held' && a.holder === 'scan@elsewhere'));
      // The holder's scan is the one writing: the watch wrote nothing meanwhile.
      expect(await has(app!, storage, '/b.txt')).toBe(false);
      await other!.release();
      await until(() => has(app!, storage, '/b.txt'));
      await watch.idle();
      expect(await indexedRows(app!, storage)).toEqual(diskRows(root));
    });

    it("never lists what the storage's exclude list leaves out, nor what a marker file does", async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const tmp = tempDir('trawl-watch-');
      cleanups.push(tmp.cleanup);
      const root = tmp.path;
      mkdirSync(join(root, 'node_modules'));
      mkdirSync(join(root, 'album'));
      db = await createDatabase(dialect);
      app = await App.open({ database: db.url, tenant: 'default' });
      const storage = await app.ensureStorage(
        parseStorageSpec(root, { exclude: ['node_modules'] }),
      );
      watch = await StorageWatch.start(app, storage, { rescanEveryMs: 0, settleMs: 20 });
      await watch.idle();
      // Busy inside an excluded directory: new subdirectories, files, all watched but not indexed.
      mkdirSync(join(root, 'node_modules', 'pkg', 'lib'), { recursive: true });
      writeFileSync(join(root, 'node_modules', 'pkg', 'lib', 'index.js'), 'x');
      // A directory whose .nomedia comes with its content: its content stays out.
      mkdirSync(join(root, 'album', 'private', 'deeper'), { recursive: true });
      writeFileSync(join(root, 'album', 'private', '.nomedia'), '');
      writeFileSync(join(root, 'album', 'private', 'deeper', 'a.jpg'), 'x');
      writeFileSync(join(root, 'album', 'kept.jpg'), 'x');
      writeFileSync(join(root, 'sentinel'), 'last');
      await until(() => has(app!, storage, '/sentinel'));
      await watch.idle();
      const paths = (await indexedRows(app!, storage)).map((r) => r[0]);
      expect(paths).toEqual(['/album', '/album/kept.jpg', '/album/private', '/sentinel']);
    });

    it('applies a new marker file to its whole subtree', async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const { root, storage } = await open();
      mkdirSync(join(root, 'photos', 'trip', 'raw'), { recursive: true });
      writeFileSync(join(root, 'photos', 'trip', 'raw', 'a.tmp'), 'x');
      writeFileSync(join(root, 'photos', 'trip', 'raw', 'a.jpg'), 'x');
      watch = await StorageWatch.start(app!, storage, { rescanEveryMs: 0, settleMs: 20 });
      await watch.idle();
      expect(await has(app!, storage, '/photos/trip/raw/a.tmp')).toBe(true);
      writeFileSync(join(root, 'photos', '.trawlignore'), '*.tmp\n');
      await until(async () => !(await has(app!, storage, '/photos/trip/raw/a.tmp')));
      await watch.idle();
      expect(await has(app!, storage, '/photos/trip/raw/a.jpg')).toBe(true);
    });

    it('holds the marker files above a directory it lists again', async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const { root, storage } = await open();
      mkdirSync(join(root, 'photos', 'trip', 'raw'), { recursive: true });
      writeFileSync(join(root, 'photos', '.trawlignore'), '*.tmp\n');
      watch = await StorageWatch.start(app!, storage, { rescanEveryMs: 0, settleMs: 20 });
      await watch.idle();
      writeFileSync(join(root, 'photos', 'trip', 'raw', 'b.tmp'), 'x');
      writeFileSync(join(root, 'photos', 'trip', 'raw', 'b.jpg'), 'x');
      await until(() => has(app!, storage, '/photos/trip/raw/b.jpg'));
      await watch.idle();
      expect(await has(app!, storage, '/photos/trip/raw/b.tmp')).toBe(false);
    });

    it('rescans the subtrees a burst was in when it outgrows the dirty set, losing nothing', async (ctx) => {
      if (await skipDialect(dialect)) return ctx.skip();
      const { root, storage } = await open();
      for (const top of ['p', 'q']) mkdirSync(join(root, top));
      watch = await StorageWatch.start(app!, storage, {
        rescanEveryMs: 0,
        settleMs: 300,
        maxDirty: 8,
      });
      await watch.idle();
      // 40 directories in one burst, against a bound of 8 marks.
      for (let i = 0; i < 20; i++) {
        for (const top of ['p', 'q']) {
          mkdirSync(join(root, top, `s${i}`, 'leaf'), { recursive: true });
          writeFileSync(join(root, top, `s${i}`, 'leaf', 'f.txt'), String(i));
        }
      }
      writeFileSync(join(root, 'sentinel'), 'last');
      await until(() => has(app!, storage, '/sentinel'));
      await watch.idle();
      expect(watch.stats.coarsened).toBeGreaterThan(0);
      expect(await indexedRows(app!, storage)).toEqual(diskRows(root));
    });
  });
}

describe('watch limits', () => {
  const cleanups: Array<() => void> = [];
  let fx: Awaited<ReturnType<typeof memoryFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
    for (const c of cleanups.splice(0)) c();
  });

  async function local(dirs: number) {
    const tmp = tempDir('trawl-watch-');
    cleanups.push(tmp.cleanup);
    for (let i = 0; i < dirs; i++) mkdirSync(join(tmp.path, `d${i}`));
    fx = await memoryFixture();
    const storage = await fx.app.ensureStorage(parseStorageSpec(tmp.path));
    return { root: tmp.path, storage };
  }

  it('refuses to start when the watches would pass the limit, naming the setting to raise', async () => {
    const { storage } = await local(4);
    const start = StorageWatch.start(fx!.app, storage, { thread: { watchLimit: 3 } });
    await expect(start).rejects.toThrow(WatchError);
    await expect(start).rejects.toThrow(
      /fs\.inotify\.max_user_watches = 3.*sysctl fs\.inotify\.max_user_watches=/,
    );
  });

  it('stops, never silently misses, when new directories pass the limit', async () => {
    const { root, storage } = await local(1);
    const watch = await StorageWatch.start(fx!.app, storage, {
      rescanEveryMs: 0,
      settleMs: 10,
      thread: { watchLimit: 3 },
    });
    await watch.idle();
    for (let i = 0; i < 3; i++) mkdirSync(join(root, `n${i}`));
    await expect(watch.done).rejects.toMatchObject({ code: 'WATCH_LIMIT' });
    await watch.stop();
  });

  it('refuses a storage that is not a local folder', async () => {
    fx = await memoryFixture();
    await expect(StorageWatch.start(fx.app, fx.storage)).rejects.toThrow(
      /only local folders can be watched/,
    );
  });
});
