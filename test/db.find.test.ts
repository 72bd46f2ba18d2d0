import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import type { Index } from '../src/db/open.js';
import { find, findPages } from '../src/db/queries/find.js';
import type { FindReadOptions } from '../src/db/queries/find-read.js';
import { compileGlob } from '../src/db/queries/glob.js';
import {
  QueryError,
  type EntryView,
  type FindQuery,
  type FindSort,
} from '../src/db/queries/index.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { DIALECTS, memoryStorage, skipDialect, type TestDatabase } from './support/databases.js';
import { twoTenantIndex } from './support/two-tenants.js';

/** Names that break naive LIKE, FTS syntax, globs or quoting, and names beyond ASCII. */
const AWKWARD = [
  '100%_done.txt',
  'under_score.MKV',
  'back\\slash.mkv',
  "it's [1].txt",
  'say "hi".srt',
  'école.mkv',
  'ÉCOLE.MKV',
  'Straße.flac',
  '日本語ファイル.mp4',
  'emoji 😀 smile.png',
  '.mkv',
  'a',
  'tar.tar.gz',
  'x*y?.txt',
  // Characters COPY's text format escapes (find -0 on PostgreSQL unescapes them), and the
  // dollar quotes a COPY's inlined parameters go between.
  'new\nline.txt',
  'tab\there\r.txt',
  'ctl\b\f\v.txt',
  'dollar $v$ $vv.txt',
];

interface Spec {
  path: string;
  isDir: boolean;
  size: number;
  mtime: number;
  mediaKind: string | null;
}

/** 5 directories, 60 numbered files with ties in size and mtime, and the awkward names. */
function tree(): Spec[] {
  const out: Spec[] = [];
  const dir = (path: string) => out.push({ path, isDir: true, size: 0, mtime: 5, mediaKind: null });
  dir('/films');
  dir('/films/sub');
  dir('/films-x');
  dir('/docs');
  dir('/docs/empty');
  for (let i = 0; i < 60; i++) {
    const kind = i % 3 === 0 ? 'video' : i % 3 === 1 ? 'audio' : null;
    const ext = kind === 'video' ? 'mkv' : kind === 'audio' ? 'flac' : 'txt';
    const name = `${i % 2 ? 'Clip' : 'clip'} ${String(i).padStart(2, '0')}.${ext}`;
    const where = i < 30 ? '/films' : i < 50 ? '/films/sub' : '/films-x';
    out.push({
      path: `${where}/${name}`,
      isDir: false,
      size: [10, 2_000, 3_000_000][i % 3]!,
      mtime: [1000, 2000, 3000][Math.floor(i / 3) % 3]!,
      mediaKind: kind,
    });
  }
  AWKWARD.forEach((name, i) =>
    out.push({ path: `/docs/${name}`, isDir: false, size: 20, mtime: 2000 + i, mediaKind: null }),
  );
  return out;
}

function toWrite(s: Spec): EntryWrite {
  return {
    path: s.path,
    parent: parentOf(s.path),
    name: baseName(s.path),
    isDir: s.isDir,
    size: s.size,
    mtime: s.mtime,
    etag: null,
    mediaKind: s.mediaKind,
    isNew: true,
  };
}

const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What find promises, computed the slow way from every entry of the storage. */
function oracle(all: EntryView[], q: FindQuery): string[] {
  const cs = q.caseSensitive === true;
  const name =
    q.name === undefined ? undefined : compileGlob(q.name, { field: 'name', caseSensitive: cs });
  const path =
    q.path === undefined
      ? undefined
      : compileGlob(q.path, { field: 'path', caseSensitive: cs, path: true });
  const under = q.under === undefined ? undefined : q.under === '/' ? '/' : `${q.under}/`;
  const rows = all.filter(
    (e) =>
      (q.parent === undefined || parentOf(e.path) === q.parent) &&
      (under === undefined || (e.path.startsWith(under) && e.path !== q.under)) &&
      (!name || name.test(e.name)) &&
      (!path || path.test(e.path)) &&
      (!q.extensions ||
        q.extensions.some((x) => {
          const n = e.name.toLowerCase();
          return n.length > x.length + 1 && n.endsWith(`.${x}`);
        })) &&
      (!q.mediaKinds || q.mediaKinds.includes(e.mediaKind ?? '')) &&
      (q.isDir === undefined || e.isDir === q.isDir) &&
      (q.minSize === undefined || e.size >= q.minSize) &&
      (q.maxSize === undefined || e.size <= q.maxSize) &&
      (q.mtimeFrom === undefined || e.mtime >= q.mtimeFrom) &&
      (q.mtimeBefore === undefined || e.mtime < q.mtimeBefore),
  );
  const sort = q.sort ?? 'path';
  const sign = (q.order ?? 'asc') === 'asc' ? 1 : -1;
  rows.sort((a, b) => {
    const byKey =
      sort === 'path'
        ? bytewise(a.path, b.path)
        : sort === 'name'
          ? bytewise(a.name, b.name)
          : a[sort] - b[sort];
    return sign * (byKey || a.id - b.id);
  });
  const out = rows.map((r) => r.path);
  return q.limit === undefined ? out : out.slice(0, q.limit);
}

async function collect<T = EntryView>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of rows) out.push(e);
  return out;
}

/** The queries every reading plan must answer alike. */
const QUERIES: [string, Omit<FindQuery, 'tenantId' | 'storageId'>][] = [
  ['everything', {}],
  ['a name glob', { name: 'clip 1*' }],
  ['a name glob, case-sensitive', { name: 'Clip*', caseSensitive: true }],
  ['a glob class and ?', { name: '[cC]lip ?[05].*' }],
  ['a negated class', { name: 'clip [!0-4]?.*' }],
  ['a name with glob characters escaped', { name: 'x\\*y\\?.txt' }],
  ['a name with %, _ and \\', { name: '*%_*' }],
  ['a backslash name', { name: 'back\\\\slash*' }],
  ['non-ASCII, either case', { name: 'école*' }],
  ['a quote and a bracket', { name: "it's \\[1\\]*" }],
  ['an emoji', { name: '*😀*' }],
  ['a short literal (no index)', { name: '*a*' }],
  ['a path glob with **', { path: '/films/**/clip 3*' }],
  ['a path glob with * only', { path: '/films/*' }],
  ['a relative path glob', { path: 'films/sub/*.mkv' }],
  ['** at the start', { path: '**/*.flac' }],
  ['extensions, any case', { extensions: ['mkv'] }],
  ['extensions, several', { extensions: ['mkv', 'flac', 'gz'] }],
  ['a two-part extension', { extensions: ['tar.gz'] }],
  ['media kinds', { mediaKinds: ['audio', 'video'] }],
  ['directories', { isDir: true }],
  ['files in a size range', { isDir: false, minSize: 20, maxSize: 2_000 }],
  ['a time range', { mtimeFrom: 2000, mtimeBefore: 3000 }],
  ['under a directory (not its sibling films-x)', { under: '/films' }],
  ['children only', { parent: '/films' }],
  ['under, and a path glob elsewhere: nothing', { under: '/docs', path: '/films/**' }],
  ['by name', { sort: 'name' }],
  ['by size, largest first', { sort: 'size', order: 'desc' }],
  ['by mtime, with a filter', { sort: 'mtime', extensions: ['mkv'] }],
  ['by path, backwards', { order: 'desc', under: '/films' }],
  ['by name backwards, with a glob', { sort: 'name', order: 'desc', name: '*.txt' }],
  ['a limit', { sort: 'size', order: 'desc', limit: 7 }],
  ['a limit of 0', { limit: 0 }],
  ['a limit, by path backwards', { order: 'desc', limit: 3 }],
  ['a limit the database applies, by name', { sort: 'name', mediaKinds: ['audio'], limit: 5 }],
  ['a limit after a glob', { sort: 'mtime', order: 'desc', name: 'clip*', limit: 4 }],
  ['a suffix glob, any case', { name: '*.TXT' }],
  ['a glob with ? only', { name: '?lip 1?.*' }],
  ['a glob of a k or s, any case (no exact LIKE)', { name: '*S*' }],
  ['a glob of escaped characters', { name: '*\n*' }],
  ['a glob of dollar quotes', { name: '*$v$*' }],
  ['a glob, case-sensitive, beyond ASCII', { name: 'é*', caseSensitive: true }],
  ['a glob and a limit, by path backwards', { name: 'clip*', order: 'desc', limit: 3 }],
];

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`find on ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let tenantId: number;
    let storageId: number;
    let otherStorage: number;
    let foreign: number;
    let all: EntryView[];

    beforeAll(async () => {
      let otherTenant: number;
      let storage: (t: number, name: string) => Promise<number>;
      ({ database, index, tenantId, other: otherTenant, storage } = await twoTenantIndex(dialect));
      storageId = await storage(tenantId, 's');
      otherStorage = await storage(tenantId, 's2');
      foreign = await storage(otherTenant, 'o');
      const specs = tree();
      // The other storages first, so that ids interleave with nothing in a row.
      await index.entries.apply({ tenantId, storageId: otherStorage }, [], specs.map(toWrite));
      await index.entries.apply({ tenantId, storageId }, [], specs.map(toWrite));
      await index.entries.apply(
        { tenantId: otherTenant, storageId: foreign },
        [],
        specs.map(toWrite),
      );
      all = await collect(find(index.db, index.dialect, { tenantId, storageId }));
    });

    afterAll(async () => {
      await index?.close();
      await database?.drop();
    });

    it('reads the storage whole, in path order, and nothing of another storage', () => {
      expect(all.map((e) => e.path)).toEqual(
        tree()
          .map((s) => s.path)
          .sort(bytewise),
      );
      expect(new Set(all.map((e) => e.storageId))).toEqual(new Set([storageId]));
      // The name is read from the path; it is the name the index holds.
      expect(all.map((e) => e.name)).toEqual(
        tree()
          .sort((a, b) => bytewise(a.path, b.path))
          .map((s) => baseName(s.path)),
      );
    });

    it("gives nothing of another tenant's storage", async () => {
      const q = { tenantId, storageId: foreign };
      expect(await collect(find(index.db, index.dialect, q))).toEqual([]);
      expect(await collect(find(index.db, index.dialect, { ...q, name: 'clip*' }))).toEqual([]);
    });

    // Every way find reads: a source whole, a source streamed, the storage walked by path
    // in chunks (or streamed sorted when the order is not the path).
    const plans: [string, FindReadOptions][] = [
      ['default bounds', {}],
      ['a source read whole', { probeRows: 1_000_000 }],
      ['a source streamed', { probeRows: 0, streamRows: 1_000_000 }],
      ['walks of 1 row', { probeRows: 0, streamRows: 0, chunkRows: 1 }],
      ['walks of 7 rows', { probeRows: 0, streamRows: 0, chunkRows: 7 }],
    ];
    for (const [label, q] of QUERIES) {
      it(`finds ${label}, alike whichever way it is read`, async () => {
        const query = { tenantId, storageId, ...q };
        const expected = oracle(all, query);
        for (const [plan, options] of plans) {
          const got = await collect(find(index.db, index.dialect, query, options));
          expect({ plan, paths: got.map((e) => e.path) }).toEqual({ plan, paths: expected });
          // The same in batches, none of them empty, each entry as read one by one.
          const pages = await collect(findPages(index.db, index.dialect, query, options));
          expect(pages.every((p) => p.length > 0)).toBe(true);
          expect({ plan, entries: pages.flat() }).toEqual({ plan, entries: got });
          // Through the index: on SQLite rows read as arrays; and the paths alone (`-0`).
          const viaIndex = await collect(index.queries.findPages(query, options));
          expect({ plan, entries: viaIndex.flat() }).toEqual({ plan, entries: got });
          const paths = await collect(index.queries.findPathPages(query, options));
          expect(paths.every((p) => p.length > 0)).toBe(true);
          expect({ plan, paths: paths.flat() }).toEqual({ plan, paths: expected });
          // As `find -0` writes them (on PostgreSQL through COPY when the SQL is exact): the
          // exact bytes, each path after the prefix and ended by a NUL.
          for (const prefix of ['', '/mnt/a b\\']) {
            const bytes = await collect(index.queries.findPathBytes(query, { ...options, prefix }));
            expect(bytes.every((b) => b.length > 0)).toBe(true);
            expect({ plan, prefix, bytes: Buffer.concat(bytes) }).toEqual({
              plan,
              prefix,
              bytes: Buffer.from(expected.map((p) => `${prefix}${p}\0`).join('')),
            });
          }
        }
      });
    }

    it('has matches for the queries that should have some (the oracle is no empty check)', () => {
      const counts = QUERIES.map(([, q]) => oracle(all, { tenantId, storageId, ...q }).length);
      expect(counts.filter((n) => n === 0)).toHaveLength(2); // the disjoint ranges, limit 0
      expect(oracle(all, { tenantId, storageId, name: 'école*' })).toEqual([
        '/docs/ÉCOLE.MKV',
        '/docs/école.mkv',
      ]);
      expect(oracle(all, { tenantId, storageId, extensions: ['mkv'] })).toContain(
        '/docs/under_score.MKV',
      );
      expect(oracle(all, { tenantId, storageId, extensions: ['mkv'] })).not.toContain('/docs/.mkv');
    });

    // PostgreSQL's planner estimates: defined on PostgreSQL alone, never a skipped test elsewhere.
    const onPostgres =
      dialect === 'postgres' ? it : (_name: string, _test: () => Promise<void>) => undefined;
    onPostgres(
      "counts a source only when the planner's estimate leaves it near the bounds",
      async () => {
        const statements: string[] = [];
        const db = index.db.withPlugin({
          transformQuery(args) {
            const node = args.node as unknown as { kind: string; sqlFragments?: string[] };
            if (node.kind === 'RawNode') statements.push(node.sqlFragments!.join('?'));
            return args.node;
          },
          transformResult: async (args) => args.result,
        });
        const query = { tenantId, storageId, name: 'clip*' };
        const expected = oracle(all, query);
        const read = async (options: FindReadOptions) => {
          statements.length = 0;
          const paths = (await collect(find(db, 'postgres', query, options))).map((e) => e.path);
          const has = (text: string) => statements.filter((s) => s.includes(text)).length;
          return { estimated: has('EXPLAIN'), counted: has('count(*)'), paths };
        };
        // Estimated at a few rows: counted, and read whole.
        expect(await read({})).toEqual({ estimated: 1, counted: 1, paths: expected });
        // Estimated past twice `probeRows`: streamed on the estimate, uncounted.
        expect(await read({ probeRows: 0, streamRows: 1_000_000 })).toEqual({
          estimated: 1,
          counted: 0,
          paths: expected,
        });
        // Estimated past `streamRows`: not a source at all, uncounted.
        expect(await read({ probeRows: 0, streamRows: 0 })).toEqual({
          estimated: 1,
          counted: 0,
          paths: expected,
        });
      },
    );

    it('streams many batches in order, and a caller that stops ends the read', async () => {
      const big = await memoryStorage(index, tenantId, 'big');
      const specs: Spec[] = Array.from({ length: 5_001 }, (_, i) => ({
        path: `/d${i % 7}/f${String(i).padStart(5, '0')}.txt`,
        isDir: false,
        size: i,
        mtime: i,
        mediaKind: null,
      }));
      await index.entries.apply({ tenantId, storageId: big }, [], specs.map(toWrite));
      const query = { tenantId, storageId: big };
      const options = { probeRows: 0, streamRows: 0, chunkRows: 1_000 };
      const paths = await collect(index.queries.findPathPages(query, options));
      expect(paths.length).toBeGreaterThan(1);
      expect(paths.flat()).toEqual(specs.map((s) => s.path).sort(bytewise));
      for await (const page of index.queries.findPages(query, options)) {
        expect(page.length).toBeGreaterThan(0);
        break; // the next batch may be on its way: the read ends all the same
      }
      if (dialect === 'postgres') {
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND state LIKE 'idle in transaction%'`.execute(
          index.db,
        );
        expect(rows[0]!.n).toBe(0);
      }
      expect(await collect(find(index.db, index.dialect, { ...query, limit: 3 }))).toHaveLength(3);
    });

    it('refuses a bad query at the call, naming the field', () => {
      const bad = (q: Partial<FindQuery>, field: string) => {
        let error: unknown;
        try {
          find(index.db, index.dialect, { tenantId, storageId, ...q });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(QueryError);
        expect((error as QueryError).field).toBe(field);
      };
      bad({ name: 'a/b' }, 'name');
      bad({ name: '[abc' }, 'name');
      bad({ path: 'a\\' }, 'path');
      bad({ extensions: [] }, 'extensions');
      bad({ extensions: ['a b'] }, 'extensions');
      bad({ sort: 'big' as FindSort }, 'sort');
      bad({ order: 'up' as 'asc' }, 'order');
      bad({ minSize: 10, maxSize: 5 }, 'maxSize');
      bad({ limit: -1 }, 'limit');
      bad({ under: '../x' }, 'under');
      bad({ tenantId: 0 }, 'tenantId');
    });
  });
}
