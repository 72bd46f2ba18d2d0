import { afterEach, describe, expect, it } from 'vitest';
import { indexRows, treeRows } from './support/harness.js';
import { engineFixture, entryWriteCounter, type EngineFixture } from './fixtures/engine.js';

const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';
const LONG_ASCII = 'a'.repeat(255);
/** 127 two-byte characters and one ASCII: 255 bytes in UTF-8. */
const LONG_UTF8 = '\u00e9'.repeat(127) + 'x';

const AWKWARD = [
  'with space',
  '100%',
  '%41%2F',
  'a#b',
  'what?',
  'back\\slash',
  'new\nline',
  ' leading',
  'trailing ',
  '  ',
  'tab\there',
  'ampersand & co',
  "quote\"s 'n'",
  '\u{1f3b5} music',
  NFC,
  NFD,
  LONG_ASCII,
  LONG_UTF8,
];

describe('scan engine: names and shapes', () => {
  let fx: EngineFixture;
  afterEach(async () => fx?.close());

  it('indexes awkward names byte for byte, NFC and NFD twins as two entries', async () => {
    fx = await engineFixture();
    expect(Buffer.byteLength(LONG_ASCII)).toBe(255);
    expect(Buffer.byteLength(LONG_UTF8)).toBe(255);
    for (const [i, name] of AWKWARD.entries()) {
      fx.tree.writeFile(`/files/${name}`, i + 1, 1_000 + i);
      fx.tree.writeFile(`/dirs/${name}/inside.txt`, 1, 7);
    }
    const first = await fx.app.scan(fx.storage);
    expect(first).toMatchObject({
      status: 'succeeded',
      dirs: 2 + AWKWARD.length,
      files: 2 * AWKWARD.length,
      created: 2 * AWKWARD.length,
      errors: 0,
    });
    const indexed = await fx.indexed();
    expect(indexRows(indexed)).toEqual(treeRows(fx.tree));
    const paths = new Set(indexed.map((e) => e.path));
    expect(paths.has(`/files/${NFC}`)).toBe(true);
    expect(paths.has(`/files/${NFD}`)).toBe(true);
    expect(paths.has(`/dirs/${NFD}/inside.txt`)).toBe(true);
    expect(paths.has('/files/new\nline')).toBe(true);
    expect(paths.has('/files/back\\slash')).toBe(true);
    expect(paths.has(`/files/${LONG_UTF8}`)).toBe(true);

    const writes = entryWriteCounter(fx.dbFile);
    try {
      const again = await fx.app.scan(fx.storage);
      expect(again).toMatchObject({ status: 'succeeded', unchanged: 2 * AWKWARD.length });
      expect(writes.count()).toBe(0);
    } finally {
      writes.close();
    }

    // Removing one twin removes exactly that one.
    fx.tree.remove(`/files/${NFD}`).remove(`/dirs/${NFC}`);
    const third = await fx.app.scan(fx.storage);
    expect(third).toMatchObject({ status: 'succeeded', deleted: 2, created: 0, updated: 0 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('deletes a vanished directory without touching siblings that share its prefix', async () => {
    fx = await engineFixture();
    for (const sibling of ['a', 'a b', 'a-x', 'a.d', 'a0', 'a\u00e9', 'ab'])
      fx.tree.writeFile(`/${sibling}/f`, 1, 1).writeFile(`/${sibling}/sub/g`, 2, 2);
    await fx.app.scan(fx.storage);
    fx.tree.remove('/a');
    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({ status: 'succeeded', deleted: 2, unchanged: 12 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('walks a tree 600 levels deep without overflowing the stack', async () => {
    fx = await engineFixture();
    const depth = 600;
    let path = '';
    for (let i = 0; i < depth; i++) {
      path += `/d${i % 10}`;
      fx.tree.writeFile(`${path}/f`, i, i);
    }
    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({ status: 'succeeded', dirs: depth, files: depth, created: depth });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
    // A vanished top directory takes the whole deep subtree with it.
    fx.tree.remove('/d0/d1');
    const after = await fx.app.scan(fx.storage);
    expect(after).toMatchObject({ status: 'succeeded', deleted: depth - 1, unchanged: 1 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('reconciles a directory of 50,000 entries', async () => {
    fx = await engineFixture();
    const n = 50_000;
    for (let i = 0; i < n; i++) fx.tree.writeFile(`/big/f${i}.jpg`, i, 1_000_000 + i);
    const first = await fx.app.scan(fx.storage, { batchEntries: 2000 });
    expect(first).toMatchObject({
      status: 'succeeded',
      dirs: 1,
      files: n,
      mediaFiles: n,
      created: n,
      bytes: (n * (n - 1)) / 2,
    });
    const writes = entryWriteCounter(fx.dbFile);
    try {
      const second = await fx.app.scan(fx.storage);
      expect(second).toMatchObject({ status: 'succeeded', unchanged: n, created: 0, updated: 0 });
      expect(writes.count()).toBe(0);
      for (let i = 0; i < n; i += 2) fx.tree.remove(`/big/f${i}.jpg`);
      for (let i = 1; i < n; i += 10) fx.tree.modify(`/big/f${i}.jpg`, { size: 0 });
      const third = await fx.app.scan(fx.storage);
      expect(third.errorSample).toEqual([]);
      expect(third).toMatchObject({
        status: 'succeeded',
        files: n / 2,
        deleted: n / 2,
        updated: n / 10,
        unchanged: n / 2 - n / 10,
      });
      // The changed rows, and /big's own row once a batch: a paged listing stores no digest,
      // so each batch that writes under /big also writes a fresh token there, which refuses
      // the digest store of any scan that read /big before it (docs/index-database.md).
      expect(writes.count()).toBeGreaterThanOrEqual(n / 2 + n / 10);
      expect(writes.count()).toBeLessThanOrEqual(n / 2 + n / 10 + Math.ceil(n / 100));
    } finally {
      writes.close();
    }
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });

  it('indexes empty directories and an empty root', async () => {
    fx = await engineFixture();
    const empty = await fx.app.scan(fx.storage);
    expect(empty).toMatchObject({ status: 'succeeded', dirs: 0, files: 0, created: 0 });
    fx.tree.mkdir('/e1').mkdir('/e2/e3/e4').mkdir('/with file/e5').writeFile('/with file/x', 3, 3);
    const r = await fx.app.scan(fx.storage);
    expect(r).toMatchObject({ status: 'succeeded', dirs: 6, files: 1, created: 1 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
    fx.tree.remove('/e2/e3');
    const after = await fx.app.scan(fx.storage);
    expect(after).toMatchObject({ status: 'succeeded', dirs: 4, deleted: 0, unchanged: 1 });
    expect(indexRows(await fx.indexed())).toEqual(treeRows(fx.tree));
  });
});
