/**
 * Exclude patterns and marker files in the scan engine, exact over fixed trees in memory, on
 * both dialects: what is listed (no request for an excluded directory), what is counted, what
 * the index holds — and that excluded entries leave the index only through a complete
 * listing of their directory, and come back when the exclude goes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scan } from '../src/scan/engine.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import type { StorageHandle } from '../src/storage/service.js';
import type { TreeListing } from '../src/storage/types.js';
import { DIALECTS, createDatabase, skipDialect } from './support/databases.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';
import { listAll } from './support/list-all.js';

/** The directories a tree was asked to list, in order. */
function recordLists(tree: MemoryTree): string[] {
  const listed: string[] = [];
  tree.beforeList = (dir) => void listed.push(dir);
  return listed;
}

/** A NAS share: photos, Synology thumbnails, a recycle bin, a code checkout, a trash. */
function share(): MemoryTree {
  return new MemoryTree()
    .writeFile('/photos/2024/a.jpg', 10, 1)
    .writeFile('/photos/2024/@eaDir/a.jpg/SYNOPHOTO_THUMB_M.jpg', 1, 1)
    .writeFile('/photos/2024/b.jpg', 20, 1)
    .writeFile('/#recycle/old.jpg', 30, 1)
    .writeFile('/code/app/node_modules/x/index.js', 1, 1)
    .writeFile('/code/app/.git/HEAD', 1, 1)
    .writeFile('/code/app/main.ts', 2, 1)
    .writeFile('/.Trash-1000/files/gone.jpg', 40, 1);
}

const NAS = ['.git', 'node_modules', '@eaDir', '#recycle', '.Trash-*'];

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`exclude patterns and markers on ${dialect}`, () => {
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

    async function paths(fx: MemoryFixture): Promise<string[]> {
      return (await fx.indexed()).map((e) => e.path);
    }

    it('never lists an excluded directory and counts it as skipped', async () => {
      const fx = await fixture(share());
      const listed = recordLists(fx.tree);
      const r = await fx.app.scan(fx.storage, { exclude: NAS });
      expect(r).toMatchObject({
        status: 'succeeded',
        dirs: 4,
        files: 3,
        created: 3,
        deleted: 0,
        skipped: 5,
        errors: 0,
      });
      expect(listed.sort()).toEqual(['/', '/code', '/code/app', '/photos', '/photos/2024']);
      expect(await paths(fx)).toEqual([
        '/code',
        '/code/app',
        '/code/app/main.ts',
        '/photos',
        '/photos/2024',
        '/photos/2024/a.jpg',
        '/photos/2024/b.jpg',
      ]);
    });

    it('removes what an exclude added later hides, and brings it back when it goes', async () => {
      const fx = await fixture(share());
      const all = await fx.app.scan(fx.storage);
      expect(all).toMatchObject({ status: 'succeeded', files: 8, created: 8, skipped: 0 });
      const everything = await paths(fx);

      // Stored on the storage this time: the same patterns, from its options.
      await fx.app.index.storages.update(fx.storage.id, {
        options: { volume: fx.volume, exclude: NAS },
      });
      const stored = (await fx.app.catalog.opened(fx.storage.id))!;
      const hidden = await fx.app.scan(stored);
      expect(hidden).toMatchObject({
        status: 'succeeded',
        files: 3,
        unchanged: 3,
        created: 0,
        deleted: 5,
        skipped: 5,
      });
      expect(await paths(fx)).toEqual([
        '/code',
        '/code/app',
        '/code/app/main.ts',
        '/photos',
        '/photos/2024',
        '/photos/2024/a.jpg',
        '/photos/2024/b.jpg',
      ]);

      const back = await fx.app.scan(fx.storage);
      expect(back).toMatchObject({ status: 'succeeded', files: 8, created: 5, deleted: 0 });
      expect(await paths(fx)).toEqual(everything);
    });

    it('deletes nothing under a directory whose listing failed, excluded or not', async () => {
      const fx = await fixture(share());
      await fx.app.scan(fx.storage);
      fx.tree.failDir('/code/app', 'PERMISSION_DENIED');
      const r = await fx.app.scan(fx.storage, { exclude: NAS });
      expect(r).toMatchObject({ status: 'partial', errors: 1, deleted: 3 });
      expect(r.errorSample).toEqual([
        expect.objectContaining({ path: '/code/app', code: 'PERMISSION_DENIED' }),
      ]);
      // node_modules and .git stay: their directory was not listed, so nothing says they go.
      expect(await paths(fx)).toContain('/code/app/node_modules/x/index.js');
      expect(await paths(fx)).toContain('/code/app/.git/HEAD');
      expect(await paths(fx)).not.toContain('/#recycle/old.jpg');
    });

    it('keeps what a broken listing brought, excluded entries aside, and deletes nothing', async () => {
      const tree = new MemoryTree().writeFile('/d/old.tmp', 1, 1).writeFile('/d/keep.jpg', 1, 1);
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);
      tree.writeFile('/d/new.jpg', 1, 1).writeFile('/d/new.tmp', 1, 1);
      tree.failDir('/d', { code: 'PROTOCOL', afterEntries: 4 });
      const r = await fx.app.scan(fx.storage, { exclude: ['*.tmp'] });
      expect(r).toMatchObject({ status: 'partial', created: 1, deleted: 0, skipped: 2 });
      expect(await paths(fx)).toEqual(['/d', '/d/keep.jpg', '/d/new.jpg', '/d/old.tmp']);
    });

    it('.nomedia and an empty .ignore exclude their directory’s content, not the directory', async () => {
      const tree = new MemoryTree()
        .writeFile('/cam/.thumbnails/t1.jpg', 1, 1)
        .mkdir('/cam/.thumbnails/deeper')
        .writeFile('/cam/.thumbnails/deeper/t2.jpg', 1, 1)
        .writeFile('/cam/p.jpg', 5, 1)
        .writeFile('/extras/x.mkv', 7, 1);
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);
      tree.writeFile('/cam/.thumbnails/.nomedia', 0, 1).writeFile('/extras/.ignore', 0, 1);
      const listed = recordLists(tree);
      const r = await fx.app.scan(fx.storage);
      expect(r).toMatchObject({ status: 'succeeded', files: 1, deleted: 3, skipped: 5 });
      expect(listed.sort()).toEqual(['/', '/cam', '/cam/.thumbnails', '/extras']);
      expect(await paths(fx)).toEqual(['/cam', '/cam/.thumbnails', '/cam/p.jpg', '/extras']);
      expect(tree.stats.reads).toBe(0);
    });

    it('.trawlignore and .ignore with patterns rule their subtree, deepest file first', async () => {
      const tree = new MemoryTree()
        .writeText('/m/.trawlignore', '# drafts and caches\n*.tmp\n!keep.tmp\ncache/\n/top.txt\n')
        .writeFile('/m/a.tmp', 1, 1)
        .writeFile('/m/keep.tmp', 1, 1)
        .writeFile('/m/top.txt', 1, 1)
        .writeFile('/m/cache/c.bin', 1, 1)
        .writeFile('/m/s/top.txt', 1, 1)
        .writeFile('/m/s/b.tmp', 1, 1)
        .writeFile('/m/s/cache/c.bin', 1, 1)
        .writeText('/m/s/t/.ignore', '*.nfo\n!b.tmp\n')
        .writeFile('/m/s/t/b.tmp', 1, 1)
        .writeFile('/m/s/t/movie.nfo', 1, 1)
        .writeFile('/m/s/t/movie.mkv', 1, 1);
      const fx = await fixture(tree);
      const listed = recordLists(tree);
      const r = await fx.app.scan(fx.storage);
      expect(r).toMatchObject({ status: 'succeeded', errors: 0, skipped: 6 });
      expect(listed.sort()).toEqual(['/', '/m', '/m/s', '/m/s/t']);
      expect(await paths(fx)).toEqual([
        '/m',
        '/m/.trawlignore',
        '/m/keep.tmp',
        '/m/s',
        '/m/s/t',
        '/m/s/t/.ignore',
        '/m/s/t/b.tmp',
        '/m/s/t/movie.mkv',
        '/m/s/top.txt',
      ]);
      expect(tree.stats.reads).toBe(2);
      // The scan's own patterns outrank the files; the storage's list ranks below them.
      const again = await fx.app.scan(fx.storage, {
        exclude: ['*.mkv'],
        storageExclude: ['keep.tmp'],
      });
      expect(again).toMatchObject({ status: 'succeeded', deleted: 1 });
      expect(await paths(fx)).not.toContain('/m/s/t/movie.mkv');
      expect(await paths(fx)).toContain('/m/keep.tmp');
    });

    it('indexes nothing anew and removes nothing where a marker cannot be read', async () => {
      const tree = new MemoryTree().writeFile('/r/old.jpg', 1, 1).writeFile('/r/sub/x.jpg', 1, 1);
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);
      tree
        .remove('/r/old.jpg')
        .writeFile('/r/new.jpg', 1, 1)
        .writeText('/r/.trawlignore', '*.jpg\n');
      tree.failRead('/r/.trawlignore', 'PERMISSION_DENIED');
      const listed = recordLists(tree);
      const r = await fx.app.scan(fx.storage);
      expect(r).toMatchObject({ status: 'partial', errors: 1, created: 0, deleted: 0 });
      expect(r.errorSample[0]).toMatchObject({
        path: '/r/.trawlignore',
        code: 'PERMISSION_DENIED',
      });
      expect(listed.sort()).toEqual(['/', '/r']);
      expect(await paths(fx)).toEqual(['/r', '/r/old.jpg', '/r/sub', '/r/sub/x.jpg']);

      tree.clearFaults().writeText('/r/.trawlignore', '#'.repeat(70_000));
      const large = await fx.app.scan(fx.storage);
      expect(large.errorSample[0]).toMatchObject({ path: '/r/.trawlignore', code: 'TOO_LARGE' });
      expect(await paths(fx)).toEqual(['/r', '/r/old.jpg', '/r/sub', '/r/sub/x.jpg']);
    });

    /** /big: a subdirectory and 2,500 files listed before its marker file (none yet). */
    function bigTree(): MemoryTree {
      const tree = new MemoryTree().mkdir('/big/sub').writeFile('/big/sub/deep.jpg', 1, 1);
      for (let i = 0; i < 2500; i++)
        tree.writeFile(`/big/f${String(i).padStart(4, '0')}.jpg`, 1, 1);
      return tree.writeFile('/keep.jpg', 1, 1);
    }

    /** The storage's handle, its `readHead` as given (absent, or another). */
    function handleOf(fx: MemoryFixture, readHead?: StorageHandle['readHead']): StorageHandle {
      const real = fx.app.storage.handle(fx.storage.id);
      return {
        storageId: real.storageId,
        check: () => real.check(),
        list: (dir, o) => real.list(dir, o),
        ...(readHead ? { readHead } : {}),
      };
    }

    const scope = (fx: MemoryFixture) => ({
      tenantId: fx.storage.tenantId,
      storageId: fx.storage.id,
    });

    it('asks a large directory for its markers before its first part goes out', async () => {
      const tree = bigTree();
      const fx = await fixture(tree);
      const first = await fx.app.scan(fx.storage);
      expect(first).toMatchObject({ status: 'succeeded', files: 2502, created: 2502 });
      // Listed after 2,501 entries: the first part would go out without it.
      tree.writeFile('/big/.nomedia', 0, 1);
      const listed = recordLists(tree);
      const reads = tree.stats.reads;
      const r = await fx.app.scan(fx.storage);
      expect(r).toMatchObject({
        status: 'succeeded',
        errors: 0,
        deleted: 2501,
        created: 0,
        skipped: 2502,
      });
      // The first listing of /big is let go at 2,000 entries, its markers asked for, and it
      // is listed again knowing them; /big/sub never.
      expect(listed.sort()).toEqual(['/', '/big', '/big']);
      expect(tree.stats.reads - reads).toBe(3);
      expect(await paths(fx)).toEqual(['/big', '/keep.jpg']);
    });

    it('lists a large directory again when a marker comes late and files cannot be read', async () => {
      const tree = bigTree();
      const fx = await fixture(tree);
      await fx.app.scan(fx.storage);
      tree.writeFile('/big/.nomedia', 0, 1);
      const listed = recordLists(tree);
      const r = await scan({ storage: handleOf(fx), entries: fx.app.index.entries }, scope(fx));
      expect(r).toMatchObject({ status: 'succeeded', errors: 0, deleted: 2501, created: 0 });
      // /big twice (the second time knowing its marker), /big/sub never.
      expect(listed.sort()).toEqual(['/', '/big', '/big']);
      expect(await paths(fx)).toEqual(['/big', '/keep.jpg']);
    });

    it('lists a large directory again when a probed marker turns out a directory', async () => {
      const tree = bigTree().writeFile('/big/.nomedia/inside.jpg', 1, 1);
      const fx = await fixture(tree);
      // As the local backend answers for a directory: no bytes, no error.
      const emptyForDirs: StorageHandle['readHead'] = async (path, bytes, o) =>
        path === '/big/.nomedia' ? new Uint8Array() : tree.readHead(path, bytes, o?.signal);
      const listed = recordLists(tree);
      const r = await scan(
        { storage: handleOf(fx, emptyForDirs), entries: fx.app.index.entries },
        scope(fx),
      );
      expect(r).toMatchObject({ status: 'succeeded', errors: 0, files: 2503, deleted: 0 });
      // Let go for the probe, listed under the probe's word, listed again without it.
      expect(listed.filter((d) => d === '/big')).toHaveLength(3);
      expect(await paths(fx)).toContain('/big/.nomedia/inside.jpg');
      expect((await fx.indexed()).length).toBe(2506);
    });

    it('follows the rules over a tree listing, and says when a marker came too late', async () => {
      const tree = share()
        .writeText('/photos/.trawlignore', '*.jpg\n!a.jpg\n')
        .writeFile('/late/-first/x.jpg', 1, 1)
        .writeFile('/late/.nomedia', 0, 1);
      const fx = await fixture(tree);
      const real = fx.app.storage.handle(fx.storage.id);
      const handle: StorageHandle = {
        storageId: real.storageId,
        check: () => real.check(),
        list: (dir, o) => real.list(dir, o),
        readHead: (path, bytes, o) => fx.tree.readHead(path, bytes, o?.signal),
        // Depth-first, a directory split around each subdirectory, as S3's key order does.
        async *listTree(root, o): AsyncIterable<TreeListing> {
          async function* walk(dir: string): AsyncIterable<TreeListing> {
            const entries = (await listAll(real.list(dir, o))).sort((a, b) =>
              a.name < b.name ? -1 : 1,
            );
            let piece: typeof entries = [];
            for (const e of entries) {
              piece.push(e);
              if (e.isDir) {
                yield { dir, entries: piece, more: true };
                piece = [];
                yield* walk(e.path);
              }
            }
            yield { dir, entries: piece };
          }
          yield* walk(root);
        },
      };
      const r = await scan({ storage: handle, entries: fx.app.index.entries }, scope(fx), {
        exclude: NAS,
      });
      expect(r).toMatchObject({ status: 'partial', errors: 1 });
      expect(r.errorSample[0]).toMatchObject({ path: '/late', code: 'MARKER_LATE' });
      expect(await paths(fx)).toEqual([
        '/code',
        '/code/app',
        '/code/app/main.ts',
        '/late',
        '/late/-first',
        '/late/-first/x.jpg',
        '/late/.nomedia',
        '/photos',
        '/photos/.trawlignore',
        '/photos/2024',
        '/photos/2024/a.jpg',
      ]);
    });
  });
}
