import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParameters, nulEndedValues } from '../src/db/postgres/copy-out.js';
import { openIndex, type Index } from '../src/db/open.js';
import { findEntryChunks, findPathBytes } from '../src/db/queries/find.js';
import { compileGlob } from '../src/db/queries/glob.js';
import type { FindQuery } from '../src/db/queries/index.js';
import {
  createDatabase,
  skipDialect,
  memoryStorageScope,
  withPg,
  type TestDatabase,
} from './support/databases.js';

/**
 * `find -0` on PostgreSQL through `COPY (SELECT …) TO STDOUT` (src/db/postgres/copy-out.ts):
 * which globs the SQL tests exactly, the bytes of COPY's text format turned into NUL-ended
 * paths, a reader that pauses or stops. That every query gives the same bytes either way is
 * test/db.find.test.ts's (findPathBytes beside findPathPages, on both dialects).
 */

describe('exact LIKE patterns of name globs', () => {
  const exact = (glob: string, caseSensitive = false) =>
    compileGlob(glob, { field: 'name', caseSensitive }).exactLike;

  it('has one for plain text, * and ?, with LIKE characters escaped', () => {
    expect(exact('*.jpg')).toBe('%.jpg');
    expect(exact('IMG_??.JPG')).toBe('IMG\\___.JPG');
    expect(exact('100%\\*\\\\x')).toBe('100\\%*\\\\x');
  });

  it('has none where LIKE would match another set than the regex', () => {
    expect(exact('[ab]*')).toBeUndefined(); // a class
    expect(exact('*.mkv')).toBeUndefined(); // k: the regex folds the Kelvin sign to it
    expect(exact('*.MKV')).toBeUndefined();
    expect(exact('*s*')).toBeUndefined(); // s: and the long s
    expect(exact('école*')).toBeUndefined(); // beyond ASCII, either case
    expect(compileGlob('*.jpg', { field: 'path', path: true }).exactLike).toBeUndefined();
  });

  it('has one for any text when the case must match (LIKE is bytewise)', () => {
    expect(exact('école*.mkv', true)).toBe('école%.mkv');
    expect(exact('[ab]', true)).toBeUndefined();
  });
});

describe("COPY's text format as NUL-ended values", () => {
  const ended = (text: string, prefix = '') =>
    nulEndedValues(Buffer.from(text), Buffer.from(prefix)).toString('latin1');

  it('ends each row with a NUL, in place when nothing is escaped', () => {
    const chunk = Buffer.from('/a\n/b c\n');
    expect(nulEndedValues(chunk, Buffer.alloc(0))).toBe(chunk);
    expect(chunk.toString()).toBe('/a\0/b c\0');
  });

  it('unescapes every escape COPY TO writes, and puts the prefix before each row', () => {
    expect(ended('/a\\\\b\\nc\\rd\\te\\bf\\fg\\vh\n/i\n')).toBe('/a\\b\nc\rd\te\bf\fg\vh\0/i\0');
    expect(ended('/a\n/b\\\\\n', '/mnt')).toBe('/mnt/a\0/mnt/b\\\0');
    // Bytes beyond ASCII pass through untouched.
    const utf8 = Buffer.from('/é\\t😀\n');
    expect(nulEndedValues(utf8, Buffer.alloc(0))).toEqual(Buffer.from('/é\t😀\0'));
  });

  it('refuses a NULL or an escape COPY TO never writes', () => {
    expect(() => ended('\\N\n')).toThrow(/unexpected escape/);
    expect(() => ended('/a\\x41\n')).toThrow(/unexpected escape/);
  });
});

describe('parameters inlined into a COPY', () => {
  it('writes integers in parentheses and strings between dollar quotes they do not hold', () => {
    expect(
      inlineParameters('a = $1 AND b = $2 AND c = $10', [7, "it's", 0, 0, 0, 0, 0, 0, 0, 'x']),
    ).toBe("a = (7) AND b = $v$it's$v$ AND c = $v$x$v$");
    // A negative number after a minus is no comment (`--`).
    expect(inlineParameters('x -$1', [-5])).toBe('x -(-5)');
    expect(inlineParameters('$1', ['a $v$ b'])).toBe('$vv$a $v$ b$vv$');
    expect(inlineParameters('$1', ['ends $v'])).toBe('$vv$ends $v$vv$');
  });

  it('refuses anything else', () => {
    expect(() => inlineParameters('$1', [1.5])).toThrow(TypeError);
    expect(() => inlineParameters('$1', ['a\0b'])).toThrow(TypeError);
    expect(() => inlineParameters('$1', [null])).toThrow(TypeError);
  });
});

describe.skipIf(await skipDialect('postgres'))('find -0 through COPY on PostgreSQL', () => {
  let database: TestDatabase;
  let index: Index;
  let scope: { tenantId: number; storageId: number };
  const paths = Array.from(
    { length: 20_000 },
    (_, i) => `/d${i % 5}/${'x'.repeat(80)}-${String(i).padStart(5, '0')}.jpg`,
  );

  beforeAll(async () => {
    database = await createDatabase('postgres');
    index = await openIndex(database.url);
    scope = await memoryStorageScope(index);
    const dirs = ['/d0', '/d1', '/d2', '/d3', '/d4'];
    await index.entries.apply(
      scope,
      [],
      [
        ...dirs.map((path) => ({
          path,
          parent: '/',
          name: path.slice(1),
          isDir: true,
          size: 0,
          mtime: 1,
          etag: null,
          mediaKind: null,
          isNew: true,
        })),
        ...paths.map((path) => ({
          path,
          parent: path.slice(0, 3),
          name: path.slice(4),
          isDir: false,
          size: 1,
          mtime: 1,
          etag: null,
          mediaKind: 'image',
          isNew: true,
        })),
      ],
    );
  });

  afterAll(async () => {
    await index?.close();
    await database?.drop();
  });

  // Compared as text: a deep equality of megabytes of Buffer takes seconds.
  const expected = () =>
    [...paths]
      .sort()
      .map((p) => `${p}\0`)
      .join('');

  it('reads through COPY only what the SQL tests exactly', async () => {
    const copied: string[] = [];
    const copyOut = (query: CompiledQuery) => {
      copied.push(query.sql);
      return (async function* () {})();
    };
    const read = async (q: Omit<FindQuery, 'tenantId' | 'storageId'>) => {
      copied.length = 0;
      for await (const _ of findPathBytes(index.db, 'postgres', { ...scope, ...q }, { copyOut })) {
        // drained
      }
      return copied.length;
    };
    expect(await read({})).toBe(1);
    expect(await read({ name: '*.jpg' })).toBe(1);
    expect(await read({ name: '*.jpg', limit: 5 })).toBe(1);
    expect(await read({ name: '*x*', mediaKinds: ['image'] })).toBe(1);
    expect(copied[0]).toMatch(/COLLATE "C"\) ILIKE/);
    expect(await read({ name: '*s*' })).toBe(0); // no exact LIKE: read and tested here
    expect(await read({ name: '[x]*' })).toBe(0);
    expect(await read({ extensions: ['jpg'] })).toBe(0);
    expect(await read({ path: '/d1/*' })).toBe(0);
  });

  it('gives every path whatever the reader pauses, longer than the watchdog waits', async () => {
    // A watchdog of 300 ms: a COPY held up by its reader must not be taken for a dead server.
    const url = new URL(database.url);
    url.searchParams.set('query_timeout', '300');
    const slow = await openIndex(url.toString());
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of slow.queries.findPathBytes({ ...scope, name: '*.jpg' })) {
        chunks.push(Buffer.from(chunk));
        if (chunks.length === 1) await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      expect(chunks.length).toBeGreaterThan(4);
      expect(Buffer.concat(chunks).toString()).toBe(expected());
    } finally {
      await slow.close();
    }
  });

  it('stops the COPY when the reader stops, and the index reads on', async () => {
    for await (const chunk of index.queries.findPathBytes({ ...scope, name: '*.jpg' })) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    // The connection of the COPY was closed: no COPY is left running on the server.
    for (let i = 0; ; i++) {
      const running = await withPg(database.url, async (c) => {
        const { rows } = await c.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE '%COPY (%' AND pid <> pg_backend_pid()`,
        );
        return rows[0]!.n;
      });
      if (running === 0) break;
      expect(i).toBeLessThan(50);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const again: Buffer[] = [];
    for await (const chunk of index.queries.findPathBytes({ ...scope, name: '*.jpg' })) {
      again.push(Buffer.from(chunk));
    }
    expect(Buffer.concat(again).toString()).toBe(expected());
  });

  it('ends quietly when the reader of its output goes away (`| head -c 100`)', async () => {
    // The built command line, as a user runs it: it must exit 0 with nothing on stderr, and
    // leave no COPY running (the rest is never read).
    const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'trawl.js');
    // -0: paths through COPY; --json and the table: entries through COPY.
    for (const format of ['-0', '--json', '']) {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `set -o pipefail; "$0" find s --name '*.jpg' $2 --db "$1" | head -c 100 >/dev/null`,
          bin,
          database.url,
          format,
        ],
        { encoding: 'utf8', env: { ...process.env, TRAWL_TENANT: 't' } },
      );
      expect({ format, status: r.status, stderr: r.stderr }).toEqual({
        format,
        status: 0,
        stderr: '',
      });
    }
  });

  it('reads entries through COPY only what the SQL tests exactly', async () => {
    let copied = 0;
    const copyEntries = () => {
      copied++;
      return (async function* () {})();
    };
    const read = async (q: Omit<FindQuery, 'tenantId' | 'storageId'>) => {
      copied = 0;
      const options = { copyEntries };
      for await (const _ of findEntryChunks(index.db, 'postgres', { ...scope, ...q }, options)) {
        // drained
      }
      return copied;
    };
    expect(await read({})).toBe(1);
    expect(await read({ name: '*.jpg', limit: 5 })).toBe(1);
    expect(await read({ name: '*s*' })).toBe(0);
    expect(await read({ extensions: ['jpg'] })).toBe(0);
  });

  it('ends the entries at a limit, in order, and stops the COPY when the reader stops', async () => {
    const q = { ...scope, name: '*-000??.jpg', order: 'desc' as const, limit: 3 };
    const got: string[] = [];
    const visit = {
      path: (path: string) => got.push(path),
      plainPath: (b: Buffer, start: number, end: number) =>
        got.push(b.toString('utf8', start, end)),
    };
    for await (const chunk of index.queries.findEntryChunks(q)) chunk.each(visit);
    const want = [...paths]
      .filter((p) => /-000\d\d\.jpg$/.test(p))
      .sort()
      .reverse();
    expect(got).toEqual(want.slice(0, 3));
    for await (const chunk of index.queries.findEntryChunks({ ...scope, name: '*.jpg' })) {
      expect(chunk).toBeDefined();
      break;
    }
    got.length = 0;
    for await (const chunk of index.queries.findEntryChunks({ ...scope, name: '*.jpg' })) {
      chunk.each(visit);
    }
    expect(got).toEqual([...paths].sort());
  });

  it('ends the answer at a limit, in order', async () => {
    const got: Buffer[] = [];
    const q = { ...scope, name: '*-000??.jpg', order: 'desc' as const, limit: 3 };
    for await (const chunk of index.queries.findPathBytes(q)) got.push(Buffer.from(chunk));
    const want = [...paths]
      .filter((p) => /-000\d\d\.jpg$/.test(p))
      .sort()
      .reverse()
      .slice(0, 3);
    expect(Buffer.concat(got).toString()).toBe(want.map((p) => `${p}\0`).join(''));
  });
});
