/**
 * The packed children text of PostgreSQL's CHILDREN statement, read back field by field:
 * every value the statement can produce (escapes, NULLs, empty strings, negative and
 * 2^53-scale numbers, a lone directory child) comes back exactly. The round trip through a
 * real server is in db.pipeline.postgres.test.ts; this pins the reader itself.
 */
import { describe, expect, it } from 'vitest';
import type { IndexedEntry } from '../src/db/entries.js';
import { unpackChildren } from '../src/db/postgres/packed.js';

/** A text field as the statement escapes it (COPY's text format), NULL as `\N`. */
function escaped(v: string | null): string {
  if (v === null) return '\\N';
  return v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
}

function pack(entries: IndexedEntry[]): string {
  return entries
    .map((e) =>
      [
        e.id,
        e.isDir ? 1 : 0,
        e.size,
        e.mtime,
        escaped(e.mediaKind),
        escaped(e.etag),
        escaped(e.path),
      ].join('\t'),
    )
    .join('\n');
}

const entry = (path: string, extra: Partial<IndexedEntry> = {}): IndexedEntry => ({
  id: 1,
  isDir: false,
  size: 0,
  mtime: 0,
  mediaKind: null,
  etag: null,
  path,
  ...extra,
});

describe('unpackChildren', () => {
  it('reads back every field exactly', () => {
    const entries = [
      entry('/d/plain.mkv', { id: 42, size: 1234, mtime: 1_700_000_000_000, mediaKind: 'video' }),
      entry('/d/sub', { id: 7, isDir: true }),
      entry('/d/tab\there', { etag: 'e\tt\na\\g', size: 2 ** 53 - 1, mtime: -5 }),
      entry('/d/new\nline', { etag: '', mtime: -(2 ** 53 - 1) }),
      entry('/d/back\\slash', { etag: '\\N', mediaKind: 'audio' }),
      entry('/d/\\N', { etag: '"W/1"' }),
      entry('/d/\\', { id: 9_007_199_254_740_991 }),
      entry('/d/cr\rx ü 😀', { size: 10 ** 15 }),
    ];
    expect(unpackChildren(pack(entries))).toEqual(entries);
  });

  it('reads a text without any escape or NULL, and a single line', () => {
    const entries = [entry('/a', { etag: 'x', mediaKind: 'image', size: 3 })];
    expect(unpackChildren(pack(entries))).toEqual(entries);
    const many = Array.from({ length: 300 }, (_, i) =>
      entry(`/d/file ${i}.txt`, {
        id: i + 1,
        size: i * 7,
        mtime: i,
        etag: `t${i}`,
        mediaKind: 'x',
      }),
    );
    expect(unpackChildren(pack(many))).toEqual(many);
  });

  it('tells an escaped backslash-N from NULL wherever the escapes fall', () => {
    const entries = [
      entry('/d/a', { etag: null }),
      entry('/d/\\\\N', { etag: '\\N\\N' }),
      entry('/d/b', { etag: null, mediaKind: null }),
      entry('/d/c', { etag: 'plain' }),
    ];
    expect(unpackChildren(pack(entries))).toEqual(entries);
  });
});

describe('unpackChildren on text it does not expect', () => {
  it('fails instead of looping or inventing rows', () => {
    const good = pack([entry('/d/a', { id: 3 })]);
    for (const bad of [
      '12', // the text ends inside a number
      '1\t0\t5', // ends before the text fields
      'x\t0\t1\t2\t\\N\t\\N\t/d/a', // not a number
      '\t0\t1\t2\t\\N\t\\N\t/d/a', // an empty number
      `${good}\n7\t0\t1\t2`, // a second line cut short
    ]) {
      expect(() => unpackChildren(bad), bad).toThrow(/unexpected packed children text/);
    }
  });
});
