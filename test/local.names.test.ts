import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  diskRows,
  indexRows,
  localFixture,
  tempDir,
  type LocalFixture,
} from './support/harness.js';

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
  '\\',
  'new\nline',
  ' leading',
  'trailing ',
  '  ',
  'tab\there',
  'amp & co',
  `quote"s 'n'`,
  '\u{1f3b5} music',
  '-dash',
  '.hidden',
  '...',
  NFC,
  NFD,
  LONG_ASCII,
  LONG_UTF8,
];

describe('local backend: names', () => {
  let fx: LocalFixture | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(async () => {
    await fx?.close();
    cleanup?.();
    fx = undefined;
  });

  it('indexes awkward names byte for byte, NFC and NFD twins as two entries', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    expect(Buffer.byteLength(LONG_ASCII)).toBe(255);
    expect(Buffer.byteLength(LONG_UTF8)).toBe(255);
    mkdirSync(join(tmp.path, 'files'));
    mkdirSync(join(tmp.path, 'dirs'));
    for (const [i, name] of AWKWARD.entries()) {
      writeFileSync(join(tmp.path, 'files', name), Buffer.alloc(i + 1));
      mkdirSync(join(tmp.path, 'dirs', name));
      writeFileSync(join(tmp.path, 'dirs', name, 'inside.txt'), 'x');
    }
    fx = await localFixture(tmp.path);
    const first = await fx.scan();
    expect(first).toMatchObject({
      status: 'succeeded',
      dirs: 2 + AWKWARD.length,
      files: 2 * AWKWARD.length,
      created: 2 * AWKWARD.length,
      skipped: 0,
      errors: 0,
    });
    const indexed = await fx.indexed();
    expect(indexRows(indexed)).toEqual(diskRows(tmp.path));
    const paths = new Set(indexed.map((e) => e.path));
    for (const name of AWKWARD) {
      expect(paths.has(`/files/${name}`), name).toBe(true);
      expect(paths.has(`/dirs/${name}/inside.txt`), name).toBe(true);
    }
    // The backslash is a character of the name, never a separator.
    expect(paths.has('/files/back')).toBe(false);
    expect(indexed.find((e) => e.path === '/files/\\')).toMatchObject({ isDir: false, size: 7 });

    const again = await fx.scan();
    expect(again).toMatchObject({ status: 'succeeded', created: 0, updated: 0, deleted: 0 });
    expect(again.unchanged).toBe(2 * AWKWARD.length);
  });

  it('reports a name that is not valid UTF-8 as skipped instead of losing it silently', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    writeFileSync(join(tmp.path, 'fine.txt'), 'ok');
    // Latin-1 "café" and "cafè": both decode to "caf\uFFFD", yet they are two files.
    for (const byte of [0xe9, 0xe8]) {
      writeFileSync(Buffer.concat([Buffer.from(tmp.path + '/caf'), Buffer.from([byte])]), 'x');
    }
    // A real file whose UTF-8 name contains U+FFFD is a normal entry.
    writeFileSync(join(tmp.path, 'caf\uFFFD'), 'replacement char');
    fx = await localFixture(tmp.path);
    const result = await fx.scan();
    expect(result).toMatchObject({ status: 'succeeded', files: 2, skipped: 2, errors: 0 });
    expect(indexRows(await fx.indexed()).map((r) => r[0])).toEqual(['/caf\uFFFD', '/fine.txt']);
  });
});
