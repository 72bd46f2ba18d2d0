import { describe, expect, it } from 'vitest';
import { entryOutput } from '../src/cli/entry-output.js';
import type { OutStream } from '../src/cli/context.js';
import type { EntryView } from '../src/db/queries/index.js';

const PATHS = [
  '/a.mkv',
  '/say "hi"\\back.srt',
  '/tab\tnew\nline\u0001.txt',
  '/école/日本語 😀.mp4',
  '/lone \ud800 surrogate',
  '/\u2028\u2029</script>',
];

function entries(): EntryView[] {
  return PATHS.flatMap((path, i) => [
    {
      id: i,
      storageId: 1,
      path,
      name: path.slice(path.lastIndexOf('/') + 1),
      isDir: i % 2 === 1,
      size: [0, 1, 9_007_199_254_740_991, 123_456][i % 4]!,
      mtime: [0, 1_796_220_679_004, -1, 951_782_400_000][i % 4]!,
      mediaKind: i % 3 === 0 ? null : 'video',
    },
  ]);
}

/**
 * The bytes the output wrote, as a stream writes them (a string as UTF-8: a lone surrogate
 * as U+FFFD), compared with the bytes of the text expected.
 */
function collector(): { out: OutStream; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const out = { write: (c: string | Uint8Array) => (chunks.push(Buffer.from(c)), true) };
  return { out, bytes: () => Buffer.concat(chunks) };
}

function written(format: 'json' | 'nul' | 'table', kind: boolean): Buffer {
  const { out, bytes } = collector();
  const output = entryOutput(out, format, { kind });
  for (const e of entries()) output.write(e);
  output.flush();
  return bytes();
}

describe(entryOutput.name, () => {
  it('writes JSON lines as JSON.stringify writes the object, with and without the kind', () => {
    for (const kind of [false, true]) {
      const expected = entries()
        .map((e) => {
          const mtime = e.mtime === 0 ? null : new Date(e.mtime).toISOString();
          const json = { path: e.path, type: e.isDir ? 'dir' : 'file', size: e.size, mtime };
          return `${JSON.stringify(kind ? { ...json, kind: e.mediaKind } : json)}\n`;
        })
        .join('');
      expect(written('json', kind)).toEqual(Buffer.from(expected));
    }
  });

  it('writes paths alone ended by NUL, as writePath does', () => {
    const { out, bytes } = collector();
    const output = entryOutput(out, 'nul');
    for (const p of PATHS) output.writePath(p);
    output.flush();
    expect(bytes()).toEqual(written('nul', false));
    expect(bytes()).toEqual(Buffer.from(PATHS.map((p) => `${p}\0`).join('')));
  });
});
