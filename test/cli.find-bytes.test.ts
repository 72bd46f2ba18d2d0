import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutStream } from '../src/cli/context.js';
import { entryOutput, type EntryFormat } from '../src/cli/entry-output.js';
import { formatBytes, printable } from '../src/cli/format.js';
import { openIndex, type Index } from '../src/db/open.js';
import { entryChunk } from '../src/db/postgres/copy-entries.js';
import type { EntryChunk, EntryView, FindQuery } from '../src/db/queries/index.js';
import {
  DIALECTS,
  createDatabase,
  memoryStorageScope,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';

/**
 * `find`'s table and JSON lines as bytes (src/cli/byte-lines.ts; on PostgreSQL from COPY's
 * bytes, src/db/postgres/copy-entries.ts) are byte for byte what the entries read as
 * strings gave, formatted by the definition of each format: `JSON.stringify` of the object,
 * and the table's template with `printable` — for names of every awkward kind.
 */

const NAMES = [
  'plain.jpg',
  'tab\there.jpg',
  'new\nline.jpg',
  'cr\rret.jpg',
  'back\\slash.jpg',
  '\\N',
  '\\\\N.jpg',
  'say "hi".jpg',
  "it's.jpg",
  'ctl\u0001\u0008\u000b\u000c\u001f.jpg',
  'del\u007f.jpg',
  'école 日本語 😀.jpg',
  '\u2028\u2029</script>.jpg',
  'lone \ud800 surrogate.jpg',
  'a,b;c|d.jpg',
];
const MTIMES = [0, -1, 1_796_220_679_004, 951_782_400_000, 253_402_300_800_000, 1];
const SIZES = [0, 1, 999_999, 9_007_199_254_740_991, 123_456_789];
const KINDS = [null, 'image', 'video'];

/** Each format by its definition, from an entry read as strings. */
function reference(e: EntryView, format: EntryFormat, prefix = ''): string {
  const path = prefix + e.path;
  const iso = e.mtime === 0 ? undefined : new Date(e.mtime).toISOString();
  if (format === 'nul') return `${path}\0`;
  if (format === 'json') {
    const type = e.isDir ? 'dir' : 'file';
    const o = { path, type, size: e.size, mtime: iso ?? null, kind: e.mediaKind };
    return `${JSON.stringify(o)}\n`;
  }
  const size = e.isDir ? '-' : formatBytes(e.size);
  return `${e.isDir ? 'd' : '-'} ${size.padStart(9)}  ${(iso ?? '-').padEnd(24)}  ${printable(path)}\n`;
}

/** What a stream is handed, as the bytes it writes (a string as UTF-8). */
function collector(): { out: OutStream; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const out = { write: (c: string | Uint8Array) => (chunks.push(Buffer.from(c)), true) };
  return { out, bytes: () => Buffer.concat(chunks) };
}

async function printed(
  chunks: AsyncIterable<EntryChunk>,
  format: EntryFormat,
  prefix = '',
): Promise<{ bytes: Buffer; plain: number }> {
  const { out, bytes } = collector();
  const output = entryOutput(out, format, { kind: true, prefix });
  let plain = 0;
  const counting = {
    path: output.path,
    plainPath: (...args: Parameters<typeof output.plainPath>) => {
      plain++;
      output.plainPath(...args);
    },
  };
  for await (const chunk of chunks) chunk.each(counting);
  output.flush();
  return { bytes: bytes(), plain };
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`find's bytes on ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let scope: { tenantId: number; storageId: number };

    beforeAll(async () => {
      database = await createDatabase(dialect);
      index = await openIndex(database.url);
      scope = await memoryStorageScope(index);
      const entries = NAMES.flatMap((name, i) =>
        [false, true].map((isDir) => ({
          path: `/${isDir ? 'dir ' : ''}${name}`,
          parent: '/',
          name: `${isDir ? 'dir ' : ''}${name}`,
          isDir,
          size: isDir ? 0 : SIZES[i % SIZES.length]!,
          mtime: MTIMES[i % MTIMES.length]!,
          etag: null,
          mediaKind: isDir ? null : KINDS[i % KINDS.length]!,
          isNew: true,
        })),
      );
      await index.entries.apply(scope, [], entries);
      if (dialect === 'sqlite') {
        // Bytes that are not UTF-8, as only SQL can write them: read back as U+FFFD. The
        // name is computed from the path's last `name_bytes` bytes (migration 019).
        await sql`UPDATE entries SET path = '/' || CAST(X'62FF61C32E6A7067' AS TEXT),
          name_bytes = 8 WHERE path = '/plain.jpg'`.execute(index.db);
      }
    });
    afterAll(async () => {
      await index?.close();
      await database?.drop();
    });

    // `*.jpg` and no glob: the SQL tests the whole query (PostgreSQL: COPY); `*s*` and an
    // extension are tested on each row read as text.
    const queries: [string, Partial<FindQuery>][] = [
      ['no glob', {}],
      ['--name *.jpg', { name: '*.jpg' }],
      ['--name *s*', { name: '*s*' }],
      ['--ext jpg', { extensions: ['jpg'] }],
    ];
    for (const [label, q] of queries) {
      it(`prints ${label} byte for byte as the entries read as strings give it`, async () => {
        const query = { ...scope, ...q };
        const views: EntryView[] = [];
        for await (const e of index.queries.find(query)) views.push(e);
        expect(views.length).toBeGreaterThan(NAMES.length / 2);
        for (const format of ['table', 'json', 'nul'] as const) {
          for (const prefix of ['', '/mnt/my "disk"\t']) {
            const expected = Buffer.from(views.map((e) => reference(e, format, prefix)).join(''));
            const got = await printed(index.queries.findEntryChunks(query), format, prefix);
            expect({ format, prefix, text: got.bytes.toString('latin1') }).toEqual({
              format,
              prefix,
              text: expected.toString('latin1'),
            });
          }
        }
      });
    }

    it(
      dialect === 'postgres'
        ? 'reads a glob the SQL tests whole through COPY, plain paths as bytes'
        : 'reads every path as text',
      async () => {
        const got = await printed(
          index.queries.findEntryChunks({ ...scope, name: '*.jpg' }),
          'json',
        );
        if (dialect === 'postgres') expect(got.plain).toBeGreaterThan(0);
        else expect(got.plain).toBe(0);
      },
    );
  });
}

describe("COPY's rows as entries", () => {
  /** COPY's text format of each row by its definition (PostgreSQL's CopyAttributeOutText). */
  const escape = (b: Buffer) => {
    const out: number[] = [];
    const named: Record<number, string> = { 8: 'b', 9: 't', 10: 'n', 11: 'v', 12: 'f', 13: 'r' };
    for (const c of b) {
      if (c === 0x5c) out.push(0x5c, 0x5c);
      else if (named[c]) out.push(0x5c, named[c]!.charCodeAt(0));
      else out.push(c);
    }
    return Buffer.from(out);
  };
  const row = (path: Buffer, kind: string | null) =>
    Buffer.concat([
      escape(path),
      Buffer.from(`\t0\t12\t1796220679004\t${kind === null ? '\\N' : kind}\n`),
    ]);

  it('decodes a path that is not UTF-8 as pg decodes it, and prints it the same', () => {
    const paths = [
      Buffer.from('/ok.jpg'),
      Buffer.from([0x2f, 0x62, 0xff, 0x61, 0xc3, 0x2e]), // stray bytes
      Buffer.from('/tab\tand\\back\u0001"q"'),
      Buffer.from('/\\N'),
    ];
    const chunk = Buffer.concat(paths.map((p, i) => row(p, i % 2 ? null : 'image')));
    const seen: unknown[] = [];
    entryChunk(chunk).each({
      path: (path, isDir, size, mtime, kind) => seen.push([path, isDir, size, mtime, kind]),
      plainPath: (bytes, start, end, isDir, size, mtime, kind) =>
        seen.push([bytes.toString('utf8', start, end), isDir, size, mtime, kind]),
    });
    expect(seen).toEqual(
      paths.map((p, i) => [
        p.toString('utf8'),
        false,
        12,
        1_796_220_679_004,
        i % 2 ? null : 'image',
      ]),
    );
  });

  it('hands no path as plain bytes from a chunk that is not UTF-8', () => {
    const chunk = Buffer.concat([
      row(Buffer.from('/ok.jpg'), null),
      row(Buffer.from([0x2f, 0xff]), null),
    ]);
    let plain = 0;
    entryChunk(chunk).each({ path: () => {}, plainPath: () => plain++ });
    expect(plain).toBe(0);
    let plainUtf8 = 0;
    entryChunk(row(Buffer.from('/ok.jpg'), null)).each({
      path: () => {},
      plainPath: () => plainUtf8++,
    });
    expect(plainUtf8).toBe(1);
  });
});
