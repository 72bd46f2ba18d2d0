import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalClient } from '../src/storage/backends/local.js';
import {
  diskRows,
  indexRows,
  localFixture,
  tempDir,
  type LocalFixture,
} from './support/harness.js';
import { listAll } from './support/list-all.js';

/**
 *   real/a.txt (3 bytes)   real/sub/b.txt (5)   real/up -> ..       (a link to an ancestor)
 *   link-file -> real/a.txt   link-dir -> real   dangling -> nowhere   self -> self
 *   p/x/lq -> ../../q   q/y/lp -> ../../p      (two links to each other's parents)
 */
function buildTree(root: string): void {
  mkdirSync(join(root, 'real/sub'), { recursive: true });
  writeFileSync(join(root, 'real/a.txt'), 'aaa');
  writeFileSync(join(root, 'real/sub/b.txt'), 'bbbbb');
  symlinkSync('..', join(root, 'real/up'));
  symlinkSync('real/a.txt', join(root, 'link-file'));
  symlinkSync('real', join(root, 'link-dir'));
  symlinkSync('nowhere', join(root, 'dangling'));
  symlinkSync('self', join(root, 'self'));
  mkdirSync(join(root, 'p/x'), { recursive: true });
  mkdirSync(join(root, 'q/y'), { recursive: true });
  symlinkSync('../../q', join(root, 'p/x/lq'));
  symlinkSync('../../p', join(root, 'q/y/lp'));
}

describe('local backend: symbolic links', () => {
  let fx: LocalFixture | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(async () => {
    await fx?.close();
    cleanup?.();
    fx = undefined;
  });

  function tree(): string {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    buildTree(tmp.path);
    return tmp.path;
  }

  it('does not follow links by default: each is listed as skipped and counted', async () => {
    const root = tree();
    const client = new LocalClient({ root, followSymlinks: false, threads: 1, readAhead: false });
    await client.connect();
    try {
      const top = await listAll(client.list('/'));
      const skips = Object.fromEntries(top.map((e) => [e.name, e.skip ?? null]));
      expect(skips).toEqual({
        real: null,
        p: null,
        q: null,
        'link-file': 'symlink',
        'link-dir': 'symlink',
        dangling: 'symlink',
        self: 'symlink',
      });
    } finally {
      await client.close();
    }

    fx = await localFixture(root);
    const result = await fx.scan();
    expect(result).toMatchObject({ status: 'succeeded', dirs: 6, files: 2, skipped: 7, errors: 0 });
    expect(indexRows(await fx.indexed())).toEqual(diskRows(root));
  });

  it('follows links with --follow-symlinks, skipping loops and dangling links', async () => {
    const root = tree();
    fx = await localFixture(root, { followSymlinks: true });
    const result = await fx.scan();
    // Skipped: dangling, self (ELOOP), real/up and link-dir/up (the root is their ancestor),
    // p/x/lq/y/lp and q/y/lp/x/lq (each reaches back to a directory above it).
    expect(result).toMatchObject({ status: 'succeeded', dirs: 12, files: 5, skipped: 6 });
    expect(result.errors).toBe(0);
    const rows = indexRows(await fx.indexed());
    expect(rows.map(([path, isDir, size]) => [path, isDir, size])).toEqual([
      ['/link-dir', true, 0],
      ['/link-dir/a.txt', false, 3],
      ['/link-dir/sub', true, 0],
      ['/link-dir/sub/b.txt', false, 5],
      ['/link-file', false, 3],
      ['/p', true, 0],
      ['/p/x', true, 0],
      ['/p/x/lq', true, 0],
      ['/p/x/lq/y', true, 0],
      ['/q', true, 0],
      ['/q/y', true, 0],
      ['/q/y/lp', true, 0],
      ['/q/y/lp/x', true, 0],
      ['/real', true, 0],
      ['/real/a.txt', false, 3],
      ['/real/sub', true, 0],
      ['/real/sub/b.txt', false, 5],
    ]);
    const again = await fx.scan();
    expect(again).toMatchObject({ status: 'succeeded', unchanged: 5, created: 0, skipped: 6 });
  });

  it('terminates on a link to the root itself and on links that form a long cycle', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    // a/b/c/d/back -> ../../../.. (the root); ring: r1/n -> ../r2, r2/n -> ../r3, r3/n -> ../r1
    mkdirSync(join(tmp.path, 'a/b/c/d'), { recursive: true });
    symlinkSync('../../../..', join(tmp.path, 'a/b/c/d/back'));
    for (const i of [1, 2, 3]) mkdirSync(join(tmp.path, `r${i}`));
    for (const [from, to] of [
      [1, 2],
      [2, 3],
      [3, 1],
    ]) {
      symlinkSync(`../r${to}`, join(tmp.path, `r${from}/n`));
    }
    fx = await localFixture(tmp.path, { followSymlinks: true });
    const result = await fx.scan();
    expect(result.status).toBe('succeeded');
    // Each ring member is reached from the root, then through its link to the next member,
    // whose link to the third member is followed too, until the ring closes on an ancestor.
    const paths = indexRows(await fx.indexed()).map((r) => r[0]);
    expect(paths).toContain('/r1/n/n');
    expect(paths).not.toContain('/r1/n/n/n');
    expect(paths.filter((p) => p.startsWith('/a/b/c/d/back'))).toEqual([]);
    expect(result).toMatchObject({ dirs: 4 + 3 + 3 * 2, files: 0, skipped: 1 + 3 });
  });
});
