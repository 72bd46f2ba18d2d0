import {
  appendFileSync,
  mkdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
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

describe('local backend: mutation rounds on disk', () => {
  let fx: LocalFixture | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(async () => {
    await fx?.close();
    cleanup?.();
    fx = undefined;
  });

  it('counts every add, growth, touch, delete and directory rename exactly', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    const root = tmp.path;
    const at = (p: string) => join(root, p);
    // 3 top directories × 4 subdirectories × 5 files = 60 files, 15 directories.
    for (const top of ['music', 'photos', 'docs']) {
      for (let s = 0; s < 4; s++) {
        mkdirSync(at(`${top}/s${s}`), { recursive: true });
        for (let f = 0; f < 5; f++) writeFileSync(at(`${top}/s${s}/f${f}.mp3`), 'x'.repeat(f + 1));
      }
    }
    fx = await localFixture(root);
    const scope = { tenantId: fx.storage.tenantId, storageId: fx.storage.id };
    const check = async () => expect(indexRows(await fx!.indexed())).toEqual(diskRows(root));

    expect(await fx.scan()).toMatchObject({
      status: 'succeeded',
      dirs: 15,
      files: 60,
      created: 60,
    });
    await check();

    // Round 1: add 3 files (one in a new directory), grow 2, touch 1 (mtime only).
    writeFileSync(at('music/s0/new1.mp3'), 'n');
    writeFileSync(at('docs/s3/new2.txt'), 'nn');
    mkdirSync(at('photos/fresh'));
    writeFileSync(at('photos/fresh/new3.jpg'), 'nnn');
    appendFileSync(at('music/s1/f0.mp3'), 'grown');
    appendFileSync(at('photos/s2/f4.mp3'), 'grown');
    utimesSync(
      at('docs/s0/f2.mp3'),
      new Date('2020-01-02T03:04:05Z'),
      new Date('2020-01-02T03:04:05Z'),
    );
    expect(await fx.scan()).toMatchObject({
      status: 'succeeded',
      dirs: 16,
      files: 63,
      created: 3,
      updated: 3,
      deleted: 0,
      unchanged: 57,
    });
    await check();
    const touched = (await fx.indexed()).find((e) => e.path === '/docs/s0/f2.mp3');
    expect(touched?.mtime).toBe(Date.parse('2020-01-02T03:04:05Z'));

    // Round 2: delete 2 files and a directory holding 5, rename a directory holding 5.
    unlinkSync(at('music/s0/f0.mp3'));
    unlinkSync(at('docs/s3/new2.txt'));
    rmSync(at('photos/s3'), { recursive: true });
    renameSync(at('music/s2'), at('music/renamed'));
    const round2 = await fx.scan();
    // The renamed directory's 5 files are deleted under the old path and created under the new.
    expect(round2).toMatchObject({
      status: 'succeeded',
      dirs: 15,
      files: 56,
      created: 5,
      updated: 0,
      deleted: 2 + 5 + 5,
      unchanged: 51,
    });
    await check();
    expect(await fx.app.index.entries.countSubtree(scope, '/music/s2')).toEqual({
      files: 0,
      dirs: 0,
    });
    expect(await fx.app.index.entries.countSubtree(scope, '/music/renamed')).toEqual({
      files: 5,
      dirs: 0,
    });

    // Round 3: a file becomes a directory and a directory becomes a file.
    unlinkSync(at('docs/s1/f1.mp3'));
    mkdirSync(at('docs/s1/f1.mp3'));
    writeFileSync(at('docs/s1/f1.mp3/inner'), 'i');
    rmSync(at('docs/s2'), { recursive: true });
    writeFileSync(at('docs/s2'), 'now a file');
    const round3 = await fx.scan();
    expect(round3).toMatchObject({
      status: 'succeeded',
      dirs: 15 + 1 - 1,
      files: 56 - 1 + 1 - 5 + 1,
      created: 2,
      deleted: 1 + 5,
    });
    await check();

    // Round 4: nothing changed on disk, so nothing is written.
    const writes = entryWriteCounter(fx.dbFile);
    try {
      const idle = await fx.scan();
      expect(idle).toMatchObject({ status: 'succeeded', created: 0, updated: 0, deleted: 0 });
      expect(idle.unchanged).toBe(idle.files);
      expect(writes.count()).toBe(0);
    } finally {
      writes.close();
    }
    await check();
  });
});
