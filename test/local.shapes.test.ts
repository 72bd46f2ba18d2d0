import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { entryWriteCounter } from './fixtures/engine.js';
import {
  diskRows,
  indexRows,
  localFixture,
  tempDir,
  type LocalFixture,
} from './support/harness.js';

describe('local backend: tree shapes', () => {
  let fx: LocalFixture | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(async () => {
    await fx?.close();
    cleanup?.();
    fx = undefined;
  });

  function folder(): string {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    return tmp.path;
  }

  it('walks a tree 520 directories deep without overflowing a stack', async () => {
    const root = folder();
    const DEPTH = 520;
    // One-letter names keep the deepest path (~1,040 bytes + the temp root) under PATH_MAX.
    const deepest = join(root, ...Array.from({ length: DEPTH }, () => 'd'));
    mkdirSync(deepest, { recursive: true });
    writeFileSync(join(deepest, 'bottom.txt'), 'deep');
    writeFileSync(join(root, 'd', 'top.txt'), 'top');
    fx = await localFixture(root);
    const result = await fx.scan();
    expect(result).toMatchObject({ status: 'succeeded', dirs: DEPTH, files: 2, errors: 0 });
    const indexed = await fx.indexed();
    expect(indexRows(indexed)).toEqual(diskRows(root));
    expect(indexed.some((e) => e.path === '/d'.repeat(DEPTH) + '/bottom.txt')).toBe(true);
  });

  it('reports a directory beyond PATH_MAX as an error and keeps everything above it', async () => {
    const root = folder();
    // 40 levels of 120-byte names: the deepest absolute paths pass 4,096 bytes, which only a
    // process working relative to its current directory can create.
    const name = 'n'.repeat(120);
    // Node's rmSync names each path whole and fails past PATH_MAX; GNU rm walks with openat.
    const previous = cleanup;
    cleanup = () => {
      spawnSync('rm', ['-rf', join(root, name)]);
      previous?.();
    };
    const cwd = process.cwd();
    try {
      process.chdir(root);
      for (let i = 0; i < 40; i++) {
        mkdirSync(name);
        process.chdir(name);
      }
      writeFileSync('unreachable.txt', 'x');
    } finally {
      process.chdir(cwd);
    }
    fx = await localFixture(root);
    const result = await fx.scan();
    expect(result.status).toBe('partial');
    expect(result.errors).toBeGreaterThanOrEqual(1);
    expect(result.errorSample[0]).toMatchObject({ code: 'PROTOCOL' });
    expect(result.errorSample[0]?.message).toMatch(/PATH_MAX/);
    const indexed = await fx.indexed();
    const deepest = Math.max(...indexed.map((e) => e.path.split('/').length - 1));
    expect(deepest).toBeGreaterThan(25);
    expect(indexed.some((e) => e.path.endsWith('/unreachable.txt'))).toBe(false);
    expect(indexed.every((e) => e.isDir)).toBe(true);
    expect(result.dirs).toBe(indexed.length);
  });

  it('lists a directory of 50,000 files completely, and rescans it writing nothing', async () => {
    const root = folder();
    const FILES = 50_000;
    mkdirSync(join(root, 'big'));
    for (let i = 0; i < FILES; i++) writeFileSync(join(root, 'big', `f${i}.jpg`), '');
    writeFileSync(join(root, 'big', 'sized.bin'), Buffer.alloc(1234));
    fx = await localFixture(root);
    const first = await fx.scan();
    expect(first).toMatchObject({
      status: 'succeeded',
      dirs: 1,
      files: FILES + 1,
      mediaFiles: FILES,
      bytes: 1234,
      created: FILES + 1,
      errors: 0,
    });
    expect(indexRows(await fx.indexed())).toEqual(diskRows(root));
    const writes = entryWriteCounter(fx.dbFile);
    try {
      const again = await fx.scan();
      expect(again).toMatchObject({ status: 'succeeded', unchanged: FILES + 1, created: 0 });
      expect(writes.count()).toBe(0);
    } finally {
      writes.close();
    }
  });

  it('indexes empty directories, an empty root, and files of size 0', async () => {
    const root = folder();
    fx = await localFixture(root);
    expect(await fx.scan()).toMatchObject({ status: 'succeeded', dirs: 0, files: 0 });
    expect(await fx.indexed()).toEqual([]);
    mkdirSync(join(root, 'e1/e2/e3'), { recursive: true });
    mkdirSync(join(root, 'e4'));
    writeFileSync(join(root, 'e4/zero'), '');
    const result = await fx.scan();
    expect(result).toMatchObject({ status: 'succeeded', dirs: 4, files: 1, created: 1 });
    expect(indexRows(await fx.indexed())).toEqual(diskRows(root));
  });

  it('gives the same index whatever the thread count or read-ahead', async () => {
    const root = folder();
    for (let d = 0; d < 30; d++) {
      mkdirSync(join(root, `a${d}`, `b${d % 3}`), { recursive: true });
      for (let f = 0; f < 40; f++)
        writeFileSync(join(root, `a${d}`, `b${d % 3}`, `${f}`), 'x'.repeat(f));
    }
    const expected = diskRows(root);
    for (const extra of [{ threads: 1, readAhead: false }, { threads: 1 }, { threads: 4 }]) {
      fx = await localFixture(root, extra);
      expect(await fx.scan()).toMatchObject({ status: 'succeeded', dirs: 60, files: 1200 });
      expect(indexRows(await fx.indexed())).toEqual(expected);
      await fx.close();
      fx = undefined;
    }
  });
});
