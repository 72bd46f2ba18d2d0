/**
 * A directory too large to hold, whose marker file comes after some of it went out, is listed
 * again knowing the marker. Its counts must be those of a clean scan of the same tree: the
 * abandoned listing's entries are not counted twice, and an entry it created is `created`
 * once, not `created` and then `unchanged`. Compared with a clean scan of an identical tree
 * on an identical index, both dialects, dry run or not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scan, type ScanOptions } from '../src/scan/engine.js';
import type { ScanResult } from '../src/scan/result.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import type { StorageHandle } from '../src/storage/service.js';
import { DIALECTS, createDatabase, skipDialect } from './support/databases.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

/** The directories a tree was asked to list, in order. */
function recordLists(tree: MemoryTree): string[] {
  const listed: string[] = [];
  tree.beforeList = (dir) => void listed.push(dir);
  return listed;
}

/** The counters a scan promises exact. */
function counts(r: ScanResult) {
  const { dirs, files, mediaFiles, bytes, skipped, created, updated, deleted, unchanged } = r;
  return { dirs, files, mediaFiles, bytes, skipped, created, updated, deleted, unchanged };
}

/**
 * /big: a `.trawlignore` first (so its rules settle on the first part), a subdirectory and
 * 2,500 files, and an `.ignore` with patterns either right after the `.trawlignore` or last
 * (late: after the first 2,000 entries went out).
 */
function patternTree(late: boolean): MemoryTree {
  const tree = new MemoryTree().writeText('/big/.trawlignore', 'sub/\n', 1);
  if (!late) tree.writeText('/big/.ignore', 'f24*.jpg\n', 1);
  tree.mkdir('/big/sub').writeFile('/big/sub/deep.jpg', 1, 1);
  for (let i = 0; i < 2500; i++) tree.writeFile(`/big/f${String(i).padStart(4, '0')}.jpg`, 3, 1);
  if (late) tree.writeText('/big/.ignore', 'f24*.jpg\n', 1);
  return tree.writeFile('/keep.jpg', 1, 1);
}

/** /big: a subdirectory and 2,500 files, then (when asked) its `.nomedia`. */
function nomediaTree(marker: boolean): MemoryTree {
  const tree = new MemoryTree().mkdir('/big/sub').writeFile('/big/sub/deep.jpg', 1, 1);
  for (let i = 0; i < 2500; i++) tree.writeFile(`/big/f${String(i).padStart(4, '0')}.jpg`, 2, 1);
  if (marker) tree.writeFile('/big/.nomedia', 0, 1);
  return tree.writeFile('/keep.jpg', 1, 1);
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(
    `counts of a directory listed again on ${dialect}`,
    () => {
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

      /** The storage's handle, reading files or not. */
      function handleOf(fx: MemoryFixture, readsFiles: boolean): StorageHandle {
        const real = fx.app.storage.handle(fx.storage.id);
        return {
          storageId: real.storageId,
          check: () => real.check(),
          list: (dir, o) => real.list(dir, o),
          ...(readsFiles
            ? { readHead: (path, bytes, o) => fx.tree.readHead(path, bytes, o?.signal) }
            : {}),
        };
      }

      function scanOf(fx: MemoryFixture, readsFiles: boolean, options: ScanOptions = {}) {
        const scope = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
        return scan({ storage: handleOf(fx, readsFiles), entries: fx.app.index.entries }, scope, {
          ...options,
        });
      }

      for (const dryRun of [false, true]) {
        it(`counts an entry the abandoned listing created once${dryRun ? ' (dry run)' : ''}`, async () => {
          const clean = await fixture(patternTree(false));
          const expected = await scanOf(clean, true, { dryRun });
          const fx = await fixture(patternTree(true));
          const listed = recordLists(fx.tree);
          const r = await scanOf(fx, true, { dryRun });
          // Listed again: the late .ignore came after the first part went out.
          expect(listed.filter((d) => d === '/big')).toHaveLength(2);
          expect(r).toMatchObject({ status: 'succeeded', errors: 0 });
          expect(expected).toMatchObject({ status: 'succeeded', errors: 0, unchanged: 0 });
          expect(counts(r)).toEqual(counts(expected));
          expect((await fx.indexed()).map((e) => e.path)).toEqual(
            (await clean.indexed()).map((e) => e.path),
          );
        });
      }

      for (const dryRun of [false, true]) {
        it(`counts an entry the abandoned listing updated once${dryRun ? ' (dry run)' : ''}`, async () => {
          const changed = async (late: boolean) => {
            const fx = await fixture(patternTree(late));
            await scanOf(fx, true);
            for (let i = 0; i < 1000; i++) {
              fx.tree.modify(`/big/f${String(i).padStart(4, '0')}.jpg`, { size: 9 });
            }
            return fx;
          };
          const clean = await changed(false);
          const expected = await scanOf(clean, true, { dryRun });
          const fx = await changed(true);
          const listed = recordLists(fx.tree);
          const r = await scanOf(fx, true, { dryRun });
          expect(listed.filter((d) => d === '/big')).toHaveLength(2);
          expect(r).toMatchObject({ status: 'succeeded', errors: 0 });
          expect(expected).toMatchObject({ updated: 1000, unchanged: 1403 });
          expect(counts(r)).toEqual(counts(expected));
        });
      }

      for (const dryRun of [false, true]) {
        it(`counts what was indexed once when a late .nomedia hides it${dryRun ? ' (dry run)' : ''}`, async () => {
          // The clean scan asks /big for its markers before its first part goes out.
          const clean = await fixture(nomediaTree(false));
          await clean.app.scan(clean.storage);
          clean.tree.writeFile('/big/.nomedia', 0, 1);
          const expected = await scanOf(clean, true, { dryRun });
          // Without reads, the marker is seen only once 2,000 entries went out.
          const fx = await fixture(nomediaTree(false));
          await fx.app.scan(fx.storage);
          fx.tree.writeFile('/big/.nomedia', 0, 1);
          const listed = recordLists(fx.tree);
          const r = await scanOf(fx, false, { dryRun });
          expect(listed.filter((d) => d === '/big')).toHaveLength(2);
          expect(r).toMatchObject({ status: 'succeeded', errors: 0 });
          expect(counts(r)).toEqual(counts(expected));
          expect(counts(r)).toMatchObject({ files: 1, unchanged: 1, skipped: 2502 });
        });
      }

      it('counts a first scan once when a late .nomedia hides what it created', async () => {
        const clean = await fixture(nomediaTree(true));
        const expected = await scanOf(clean, true);
        const fx = await fixture(nomediaTree(true));
        const r = await scanOf(fx, false);
        expect(r).toMatchObject({ status: 'succeeded', errors: 0 });
        // What was listed is counted as a clean scan would; what the abandoned listing wrote
        // and the second took away is counted as written: created, then deleted.
        const { created, deleted, ...listed } = counts(r);
        const { created: cleanCreated, deleted: cleanDeleted, ...cleanListed } = counts(expected);
        expect(listed).toEqual(cleanListed);
        expect(deleted).toBeGreaterThan(0);
        expect(created - deleted).toBe(cleanCreated - cleanDeleted);
        expect((await fx.indexed()).map((e) => e.path)).toEqual(['/big', '/keep.jpg']);
      });

      it('counts nothing twice when a probed marker turns out a directory', async () => {
        const tree = nomediaTree(false).writeFile('/big/.nomedia/inside.jpg', 1, 1);
        const fx = await fixture(tree);
        // As the local backend answers for a directory: no bytes, no error.
        const handle = handleOf(fx, true);
        const emptyForDirs: StorageHandle['readHead'] = async (path, bytes, o) =>
          path === '/big/.nomedia' ? new Uint8Array() : tree.readHead(path, bytes, o?.signal);
        const listed = recordLists(tree);
        const scope = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
        const r = await scan(
          { storage: { ...handle, readHead: emptyForDirs }, entries: fx.app.index.entries },
          scope,
        );
        expect(listed.filter((d) => d === '/big')).toHaveLength(3);
        // /big, /big/sub, /big/.nomedia; 2,500 files, deep.jpg, inside.jpg, keep.jpg.
        expect(counts(r)).toEqual({
          dirs: 3,
          files: 2503,
          mediaFiles: 2503,
          bytes: 5003,
          skipped: 0,
          created: 2503,
          updated: 0,
          deleted: 0,
          unchanged: 0,
        });
      });
    },
  );
}
