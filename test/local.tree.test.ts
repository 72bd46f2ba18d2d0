import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { LocalClient } from '../src/storage/backends/local.js';
import type { TreeListing, TreeOptions } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { indexLines, tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

/** The local backend's own tree walk (`listTree`), which the engine prefers for a whole scan. */
describe('local backend: listTree', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** `/a/{1,2}/f.txt`, `/b/f.txt`, `/c/x/y/f.txt`, `/top.txt` */
  function tree(): string {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    for (const d of ['a/1', 'a/2', 'b', 'c/x/y']) {
      mkdirSync(join(tmp.path, d), { recursive: true });
      writeFileSync(join(tmp.path, d, 'f.txt'), d);
    }
    writeFileSync(join(tmp.path, 'top.txt'), 'top');
    return tmp.path;
  }

  async function client(root: string, readAhead: boolean, largeDirBytes?: number) {
    const c = new LocalClient(
      { root, followSymlinks: false, threads: 1, readAhead },
      largeDirBytes === undefined ? {} : { largeDirBytes },
    );
    await c.connect();
    cleanups.push(() => c.close());
    return c;
  }

  async function drain(c: LocalClient, root: string, options: TreeOptions = {}) {
    const pieces: TreeListing[] = [];
    for await (const step of c.listTree(root, options)) {
      pieces.push(...(Array.isArray(step) ? step : [step]));
    }
    return pieces;
  }

  for (const readAhead of [true, false]) {
    it(`yields every directory once, breadth-first, as list() has it (readAhead ${readAhead})`, async () => {
      const root = tree();
      const c = await client(root, readAhead);
      const pieces = await drain(c, '/');
      expect(pieces.map((p) => p.dir)).toEqual([
        '/',
        '/a',
        '/b',
        '/c',
        '/a/1',
        '/a/2',
        '/c/x',
        '/c/x/y',
      ]);
      for (const p of pieces) {
        expect(p.more).toBeUndefined();
        expect(p.error).toBeUndefined();
        expect(p.entries).toEqual(await listAll(c.list(p.dir)));
      }
    });
  }

  it('hands listings read ahead over several in one step, in walk order', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const dirs = Array.from({ length: 40 }, (_, i) => `d${String(i).padStart(2, '0')}`);
    for (const d of dirs) {
      mkdirSync(join(tmp.path, d, 'sub'), { recursive: true });
      writeFileSync(join(tmp.path, d, 'sub', 'f.txt'), d);
    }
    const c = await client(tmp.path, true);
    const steps: number[] = [];
    const order: string[] = [];
    for await (const step of c.listTree('/')) {
      const pieces = Array.isArray(step) ? step : [step];
      steps.push(pieces.length);
      order.push(...pieces.map((p) => p.dir));
      // Give the listing thread time to read the next level ahead.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(order).toEqual(['/', ...dirs.map((d) => `/${d}`), ...dirs.map((d) => `/${d}/sub`)]);
    expect(steps.length).toBeLessThan(order.length / 4);
  });

  it('lists no directory the caller does not descend into, asked once its parent is taken', async () => {
    const root = tree();
    const c = await client(root, true);
    const asked: string[] = [];
    const taken: string[] = [];
    const pieces: string[] = [];
    for await (const step of c.listTree('/', {
      descend: (dir) => {
        // Asked only after the piece holding `dir` was handed over.
        expect(taken).toContain(dir.slice(0, dir.lastIndexOf('/')) || '/');
        asked.push(dir);
        return dir !== '/c' && dir !== '/a/2';
      },
    })) {
      for (const piece of Array.isArray(step) ? step : [step]) {
        taken.push(piece.dir);
        pieces.push(piece.dir);
      }
    }
    expect(asked).toEqual(['/a', '/b', '/c', '/a/1', '/a/2']);
    expect(pieces).toEqual(['/', '/a', '/b', '/a/1']);
  });

  it('yields a directory that cannot be listed as its error, and walks on', async () => {
    const root = tree();
    const c = await client(root, true);
    // Gone between its parent's listing and its own.
    const pieces = await drain(c, '/', {
      descend: (dir) => {
        if (dir === '/a') rmSync(join(root, 'a'), { recursive: true });
        return true;
      },
    });
    expect(pieces.map((p) => p.dir)).toEqual(['/', '/a', '/b', '/c', '/c/x', '/c/x/y']);
    const failed = pieces[1]!;
    expect(failed.entries).toEqual([]);
    expect(failed.error).toMatchObject({ code: 'NOT_FOUND', path: '/a' });
    expect(pieces.filter((p) => p.error)).toHaveLength(1);
  });

  it('yields a streamed directory in pieces, all but the last with more', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    mkdirSync(join(tmp.path, 'big'));
    const names = Array.from({ length: 2500 }, (_, i) => `f${String(i).padStart(5, '0')}`);
    for (const n of names) writeFileSync(join(tmp.path, 'big', n), '');
    mkdirSync(join(tmp.path, 'big', 'sub'));
    writeFileSync(join(tmp.path, 'big', 'sub', 'inner.txt'), 'x');
    const c = await client(tmp.path, true, 1);
    const pieces = await drain(c, '/');
    const big = pieces.filter((p) => p.dir === '/big');
    expect(big.length).toBeGreaterThan(1);
    expect(big.slice(0, -1).every((p) => p.more === true)).toBe(true);
    expect(big.at(-1)!.more).toBeUndefined();
    expect(big.flatMap((p) => p.entries.map((e) => e.name)).sort()).toEqual(
      [...names, 'sub'].sort(),
    );
    // Its subdirectory comes after the directory's pieces, and is listed too.
    expect(pieces.at(-1)).toMatchObject({ dir: '/big/sub', entries: [{ name: 'inner.txt' }] });
  });

  it('starts a new walk: a sub-root is listed fresh, not from what was read ahead', async () => {
    const root = tree();
    const c = await client(root, true);
    await drain(c, '/');
    writeFileSync(join(root, 'c', 'x', 'new.txt'), 'new');
    const pieces = await drain(c, '/c/x');
    expect(pieces.map((p) => p.dir)).toEqual(['/c/x', '/c/x/y']);
    expect(pieces[0]!.entries.map((e) => e.name)).toEqual(['new.txt', 'y']);
  });

  it('applies a marker that a streamed directory lists after its first piece (scan)', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const root = join(tmp.path, 'root');
    mkdirSync(join(root, 'big'), { recursive: true });
    // `-` sorts before `.`: the marker comes in the second 1,000-entry chunk, not the first.
    for (let i = 0; i < 1500; i++)
      writeFileSync(join(root, 'big', `-${String(i).padStart(4, '0')}.jpg`), '');
    writeFileSync(join(root, 'big', '.nomedia'), '');
    writeFileSync(join(root, 'other.jpg'), 'x');
    const app = await App.open({
      database: join(tmp.path, 'index.db'),
      tenant: 'default',
      env: { TRAWL_LOCAL_STREAM_DIR_BYTES: '1' },
    });
    cleanups.push(() => app.close());
    const storage = await app.ensureStorage(parseStorageSpec(root));
    const first = await app.scan(storage);
    expect(first).toMatchObject({ status: 'succeeded', errors: 0, files: 1, skipped: 1501 });
    expect(await indexLines(app, storage)).toEqual(['/big:d', '/other.jpg:1']);
    expect(await app.scan(storage)).toMatchObject({
      status: 'succeeded',
      created: 0,
      updated: 0,
      deleted: 0,
    });
  });
});
