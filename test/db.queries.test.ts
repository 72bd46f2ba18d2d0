import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import {
  createQueries,
  QueryError,
  type EntryView,
  type Page,
  type Queries,
  type SearchQuery,
  type SortKey,
  type SortOrder,
} from '../src/db/queries/index.js';
import { LARGE_FILE_BYTES } from '../src/db/migrations/008-stats-and-large-files.js';
import { queryDigest } from '../src/db/queries/cursor.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { DIALECTS, createDatabase, skipDialect, type TestDatabase } from './support/databases.js';

/** Names that break naive LIKE, FTS syntax or quoting, and names in more than ASCII. */
const AWKWARD = [
  '100%_done.txt',
  '100 percent.txt',
  'under_score.md',
  'underXscore.md',
  'back\\slash.txt',
  "it's.txt",
  'say "hi".txt',
  'école.txt',
  'ÉCOLE.md',
  'Straße.pdf',
  '日本語ファイル.mp4',
  'emoji 😀 smile.png',
  'a',
  'ab',
  'AB.jpg',
  'x%y',
];

interface Spec {
  path: string;
  isDir: boolean;
  size: number;
  mtime: number;
  mediaKind: string | null;
}

/** 2 + 40 + 16 + 4 entries with many ties in size and mtime (three values each). */
function tree(): Spec[] {
  const out: Spec[] = [];
  const dir = (path: string) => out.push({ path, isDir: true, size: 0, mtime: 5, mediaKind: null });
  dir('/photos');
  dir('/photos/sub');
  dir('/docs');
  dir('/docs/empty');
  for (let i = 0; i < 40; i++) {
    const kind = i % 3 === 0 ? 'image' : i % 3 === 1 ? 'video' : null;
    const name = `${i % 2 ? 'IMG' : 'img'}_${String(i).padStart(2, '0')}${kind === 'video' ? '.mp4' : '.jpg'}`;
    out.push({
      path: i < 30 ? `/photos/${name}` : `/photos/sub/${name}`,
      isDir: false,
      size: [10, 20, 30][i % 3]!,
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

/** The order the queries promise: the key (names bytewise), then id. */
function ordered(rows: EntryView[], sort: SortKey, order: SortOrder): EntryView[] {
  const sign = order === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const byKey = sort === 'name' ? bytewise(a.name, b.name) : a[sort] - b[sort];
    return sign * (byKey || a.id - b.id);
  });
}

/** Every page of a query, following `next`; fails on a loop. */
async function walk(
  read: (cursor?: string) => Promise<Page<EntryView>>,
  limit = Infinity,
): Promise<{ items: EntryView[]; pages: number; short: number }> {
  const items: EntryView[] = [];
  let cursor: string | undefined;
  let short = 0;
  for (let pages = 1; pages < 500; pages++) {
    const page = await read(cursor);
    items.push(...page.items);
    if (!page.next) return { items, pages, short };
    // A page short of its limit with more to come: none should be.
    if (page.items.length < limit) short++;
    cursor = page.next;
  }
  throw new Error('pagination did not end');
}

const paths = (rows: EntryView[]) => rows.map((r) => r.path);
const SORTS: SortKey[] = ['name', 'size', 'mtime'];
const ORDERS: SortOrder[] = ['asc', 'desc'];

async function rejection(p: Promise<unknown>): Promise<QueryError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(QueryError);
  return error as QueryError;
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`Queries on ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let tenantId: number;
    let storageId: number;
    let otherTenant: number;
    let otherStorage: number;
    let all: EntryView[];
    /** Default bounds, and the first source taken without counting. */
    let planners: [string, Queries][];

    beforeAll(async () => {
      database = await createDatabase(dialect);
      index = await openIndex(database.url);
      tenantId = await index.tenants.ensure('t');
      otherTenant = await index.tenants.ensure('other');
      const storage = (t: number, name: string) =>
        index.storages.upsert({
          tenantId: t,
          name,
          kind: 'memory',
          location: `memory://${name}`,
          options: { volume: name },
        });
      storageId = (await storage(tenantId, 's')).id;
      const second = (await storage(tenantId, 's2')).id;
      otherStorage = (await storage(otherTenant, 'o')).id;
      const specs = tree();
      await index.entries.apply({ tenantId, storageId }, [], specs.map(toWrite));
      // The same names elsewhere: a second storage of the tenant, and another tenant.
      await index.entries.apply(
        { tenantId, storageId: second },
        [],
        specs.slice(0, 6).map(toWrite),
      );
      await index.entries.apply(
        { tenantId: otherTenant, storageId: otherStorage },
        [],
        specs.map(toWrite),
      );
      all = (await walk((cursor) => index.queries.search({ tenantId, limit: 1000, cursor }))).items;
      // Counting at most 2 rows a source, the first source is taken whatever its size.
      planners = [
        ['default bounds', index.queries],
        ['first source', createQueries(index.db, index.dialect, { probeRows: 1 })],
      ];
    });

    afterAll(async () => {
      await index?.close();
      await database?.drop();
    });

    it('searches only the tenant: its two storages, never the other tenant', () => {
      expect(all).toHaveLength(tree().length + 6);
      expect(new Set(all.map((e) => e.storageId)).size).toBe(2);
      expect(all.some((e) => e.storageId === otherStorage)).toBe(false);
    });

    it("gives nothing from another tenant's storage, whatever the query", async () => {
      const q = { tenantId, storageId: otherStorage };
      expect((await index.queries.search(q)).items).toEqual([]);
      expect((await index.queries.search({ ...q, name: 'img' })).items).toEqual([]);
      expect((await index.queries.browse({ ...q, dir: '/photos' })).items).toEqual([]);
      expect(await index.queries.stats(q)).toMatchObject({ files: 0, dirs: 0, bytes: 0 });
    });

    for (const sort of SORTS) {
      for (const order of ORDERS) {
        it(`pages through every entry once, sorted by ${sort} ${order}, ties by id`, async () => {
          const expected = paths(ordered(all, sort, order));
          for (const [label, queries] of planners) {
            for (const limit of [1, 3, 10]) {
              const { items, short } = await walk(
                (cursor) => queries.search({ tenantId, sort, order, limit, cursor }),
                limit,
              );
              expect(paths(items), `${label}, limit ${limit}`).toEqual(expected);
              expect(short, `${label}, limit ${limit}: pages cut short`).toBe(0);
            }
          }
        });

        it(`browses a directory by ${sort} ${order}: directories first, every child once`, async () => {
          const children = all.filter(
            (e) => e.storageId === storageId && parentOf(e.path) === '/photos',
          );
          const expected = paths([
            ...ordered(
              children.filter((e) => e.isDir),
              sort,
              order,
            ),
            ...ordered(
              children.filter((e) => !e.isDir),
              sort,
              order,
            ),
          ]);
          expect(expected).toHaveLength(31);
          for (const [label, queries] of planners) {
            for (const limit of [1, 4, 100]) {
              const { items } = await walk((cursor) =>
                queries.browse({ tenantId, storageId, dir: '/photos', sort, order, limit, cursor }),
              );
              expect(paths(items), `${label}, limit ${limit}`).toEqual(expected);
            }
          }
        });
      }
    }

    it('ends a browse whose directories fill the last page exactly', async () => {
      const page = await index.queries.browse({ tenantId, storageId, dir: '/docs', limit: 1 });
      expect(paths(page.items)).toEqual(['/docs/empty']);
      expect(page.next).not.toBeNull();
      const dirsOnly = await index.queries.browse({
        tenantId,
        storageId,
        dir: '/photos',
        limit: 1,
      });
      expect(paths(dirsOnly.items)).toEqual(['/photos/sub']);
      const empty = await index.queries.browse({ tenantId, storageId, dir: '/docs/empty' });
      expect(empty).toEqual({ items: [], next: null });
      const leaf = await index.queries.browse({ tenantId, storageId, dir: '/photos/sub' });
      expect(leaf.items).toHaveLength(10);
      expect(leaf.next).toBeNull();
    });

    /** What a search must return, by the definition of each filter. */
    function expected(q: SearchQuery): string[] {
      const needle = q.name?.toLowerCase();
      const rows = all.filter(
        (e) =>
          (q.storageId === undefined || e.storageId === q.storageId) &&
          (needle === undefined || e.name.toLowerCase().includes(needle)) &&
          (q.pathPrefix === undefined || e.path.startsWith(`${q.pathPrefix}/`)) &&
          (q.mediaKind === undefined || e.mediaKind === q.mediaKind) &&
          (q.isDir === undefined || e.isDir === q.isDir) &&
          (q.minSize === undefined || e.size >= q.minSize) &&
          (q.maxSize === undefined || e.size <= q.maxSize) &&
          (q.mtimeFrom === undefined || e.mtime >= q.mtimeFrom) &&
          (q.mtimeTo === undefined || e.mtime <= q.mtimeTo),
      );
      return paths(ordered(rows, q.sort ?? 'name', q.order ?? 'asc'));
    }

    const cases: [string, Omit<SearchQuery, 'tenantId'>, number][] = [
      ['a 3-character substring', { name: 'img' }, 42],
      ['an upper-case needle', { name: 'IMG_1' }, 10],
      ['a 2-character substring', { name: 'g_' }, 42],
      ['a 1-character substring', { name: 'é' }, 2],
      ['a 1-character substring, upper case', { name: 'A' }, 6],
      ['a literal %', { name: '%' }, 2],
      ['a literal % and _', { name: '0%_' }, 1],
      ['a literal _ (not any character)', { name: 'r_s' }, 1],
      ['a backslash', { name: 'k\\s' }, 1],
      ['a quote', { name: "t's" }, 1],
      ['double quotes', { name: '"hi"' }, 1],
      ['FTS syntax as text', { name: 'hi" OR "img' }, 0],
      ['accented, either case', { name: 'ÉCOLE' }, 2],
      ['CJK', { name: '本語フ' }, 1],
      ['an emoji', { name: '😀 s' }, 1],
      ['name + kind + size', { name: 'img', mediaKind: 'image', minSize: 10, maxSize: 10 }, 15],
      ['name + subtree', { name: 'img', pathPrefix: '/photos/sub', storageId: 0 }, 10],
      ['kind + mtime range', { mediaKind: 'video', mtimeFrom: 2000, mtimeTo: 3000 }, 8],
      ['directories only', { isDir: true }, 8],
      ['size range, files', { minSize: 15, maxSize: 25, isDir: false }, 13 + 16 + 1],
      ['no match', { name: 'nothing-like-this' }, 0],
    ];
    for (const [label, query, count] of cases) {
      it(`finds by ${label}, on every plan`, async () => {
        const q: SearchQuery = { tenantId, ...query };
        if (q.storageId === 0) q.storageId = storageId;
        const want = expected(q);
        expect(want).toHaveLength(count);
        for (const [plan, queries] of planners) {
          for (const sort of SORTS) {
            const { items } = await walk((cursor) =>
              queries.search({ ...q, sort, limit: 5, cursor }),
            );
            expect(paths(items), `${plan}, by ${sort}`).toEqual(expected({ ...q, sort }));
          }
        }
      });
    }

    it('reads large files by size from their index, and past it, as a full read would', async () => {
      // Sizes on both sides of entries_large's 100 MB bound, many tied, in two storages.
      const T = LARGE_FILE_BYTES;
      const mine = await index.tenants.ensure('large');
      const made: number[] = [];
      for (const name of ['l1', 'l2']) {
        made.push(
          (
            await index.storages.upsert({
              tenantId: mine,
              name,
              kind: 'memory',
              location: `memory://${name}`,
              options: { volume: name },
            })
          ).id,
        );
      }
      const specs: Spec[] = [];
      for (let i = 0; i < 60; i++) {
        const size = T + [-7, -1, 0, 0, 1, 5e8, 3e9][i % 7]! * (i % 2 ? 1 : 1 + (i % 5));
        specs.push({
          path: `/f${String(i).padStart(2, '0')}.${i % 3 ? 'mkv' : 'iso'}`,
          isDir: false,
          size: Math.max(0, size),
          mtime: i % 4,
          mediaKind: i % 3 ? 'video' : null,
        });
      }
      specs.push({ path: '/dir', isDir: true, size: 0, mtime: 0, mediaKind: null });
      await index.entries.apply({ tenantId: mine, storageId: made[0]! }, [], specs.map(toWrite));
      await index.entries.apply(
        { tenantId: mine, storageId: made[1]! },
        [],
        specs.slice(0, 20).map(toWrite),
      );
      const every = (
        await walk((cursor) => index.queries.search({ tenantId: mine, limit: 1000, cursor }))
      ).items;
      expect(every).toHaveLength(81);
      const cases: Omit<SearchQuery, 'tenantId'>[] = [
        {},
        { mediaKind: 'video' },
        { minSize: T },
        { minSize: T + 1, mediaKind: 'video' },
        { minSize: 2e9 },
        { maxSize: T },
        { storageId: made[1]! },
        { isDir: true },
        { name: 'f1' },
        { mtimeFrom: 2, minSize: T - 1 },
      ];
      const bounds: [string, Queries][] = [
        ['default bounds', index.queries],
        ['4 rows of the index', createQueries(index.db, index.dialect, { probeRows: 4 })],
        ['1 row', createQueries(index.db, index.dialect, { probeRows: 1 })],
        ['not read', createQueries(index.db, index.dialect, { largeFiles: false })],
      ];
      for (const c of cases) {
        for (const order of ['desc', 'asc'] as const) {
          const want = paths(
            ordered(
              every.filter(
                (e) =>
                  (c.mediaKind === undefined || e.mediaKind === c.mediaKind) &&
                  (c.minSize === undefined || e.size >= c.minSize) &&
                  (c.maxSize === undefined || e.size <= c.maxSize) &&
                  (c.storageId === undefined || e.storageId === c.storageId) &&
                  (c.isDir === undefined || e.isDir === c.isDir) &&
                  (c.name === undefined || e.name.includes(c.name)) &&
                  (c.mtimeFrom === undefined || e.mtime >= c.mtimeFrom),
              ),
              'size',
              order,
            ),
          );
          for (const [label, queries] of bounds) {
            for (const limit of [3, 7, 1000]) {
              const { items, short } = await walk(
                (cursor) =>
                  queries.search({ tenantId: mine, ...c, sort: 'size', order, limit, cursor }),
                limit,
              );
              const at = `${JSON.stringify(c)} ${order} ${label} ${limit}`;
              expect(paths(items), at).toEqual(want);
              expect(short, at).toBe(0);
            }
          }
        }
      }
    });

    it('refuses a 1-2 character needle that would read too many entries, naming it', async () => {
      const bounded = createQueries(index.db, index.dialect, { shortScanRows: 12 });
      // On PostgreSQL, so is a needle without three letters or digits in a row (pg_trgm has
      // no trigram for it); SQLite's FTS5 takes any three characters.
      for (const name of ['a', 'g_', ...(dialect === 'postgres' ? ['%%%'] : [])]) {
        const error = await rejection(bounded.search({ tenantId, name }));
        expect(error.code).toBe('BAD_QUERY');
        expect(error.field).toBe('name');
        // Narrowed to 10 entries, the same needle is answered.
        const q = { tenantId, storageId, pathPrefix: '/photos/sub', name };
        expect(paths((await bounded.search(q)).items)).toEqual(expected(q));
      }
      // Three letters are answered from the trigram index, whatever the scope.
      expect((await bounded.search({ tenantId, name: 'img' })).items).toHaveLength(42);
    });

    it('keeps the name index in step as entries come and go', async () => {
      const { id } = await index.storages.upsert({
        tenantId,
        name: 'churn',
        kind: 'memory',
        location: 'memory://churn',
        options: { volume: 'churn' },
      });
      const scope = { tenantId, storageId: id };
      const spec = (path: string): Spec => ({
        path,
        isDir: false,
        size: 1,
        mtime: 1,
        mediaKind: null,
      });
      const found = async () =>
        paths((await index.queries.search({ tenantId, storageId: id, name: 'zebra' })).items);
      try {
        const writes = ['/zebra-1', '/zebra-2', '/other'].map((p) => toWrite(spec(p)));
        await index.entries.apply(scope, [], writes);
        expect(await found()).toEqual(['/zebra-1', '/zebra-2']);
        await index.entries.apply(scope, [{ path: '/zebra-1', isDir: false }], []);
        expect(await found()).toEqual(['/zebra-2']);
        await index.entries.apply(scope, [], [{ ...toWrite(spec('/zebra-1')), size: 5 }]);
        expect(await found()).toEqual(['/zebra-1', '/zebra-2']);
      } finally {
        // Its entries go with it: the other tests count the tenant's.
        await index.storages.remove(id);
      }
      expect(await found()).toEqual([]);
    });

    it('reads an index of one storage whole, as an embedded index is', async () => {
      // One storage in the database: SQLite scans the table instead of the path index.
      const alone = await createDatabase(dialect);
      const solo = await openIndex(alone.url);
      try {
        const t = await solo.tenants.ensure('solo');
        const { id } = await solo.storages.upsert({
          tenantId: t,
          name: 'only',
          kind: 'memory',
          location: 'memory://only',
          options: { volume: 'only' },
        });
        await solo.entries.apply({ tenantId: t, storageId: id }, [], tree().map(toWrite));
        const videos = await solo.queries.search({ tenantId: t, mediaKind: 'video', sort: 'size' });
        expect(videos.items).toHaveLength(13);
        expect(videos.items.every((e) => e.mediaKind === 'video' && e.size === 20)).toBe(true);
        expect(await solo.queries.stats({ tenantId: t, storageId: id })).toMatchObject({
          files: 56,
          dirs: 4,
        });
        expect((await solo.queries.search({ tenantId: t + 1 })).items).toEqual([]);
      } finally {
        await solo.close();
        await alone.drop();
      }
    });

    it('counts, weighs and ranks one storage', async () => {
      const s = await index.queries.stats({ tenantId, storageId, largestDirs: 2 });
      expect(s).toEqual({
        files: 56,
        dirs: 4,
        bytes: 14 * 10 + 13 * 20 + 13 * 30 + 16 * 20,
        byMediaKind: [
          { mediaKind: null, files: 29, bytes: 13 * 30 + 16 * 20 },
          { mediaKind: 'video', files: 13, bytes: 13 * 20 },
          { mediaKind: 'image', files: 14, bytes: 14 * 10 },
        ],
        largestDirs: [
          { path: '/photos', files: 30, bytes: 10 * 10 + 10 * 20 + 10 * 30 },
          { path: '/docs', files: 16, bytes: 16 * 20 },
        ],
      });
      expect((await index.queries.stats({ tenantId, storageId })).largestDirs).toHaveLength(3);
    });

    it('keeps stats until the storage changes, whoever writes it', async () => {
      // Counts the statements that total a storage (its GROUP BY), as they go to the database.
      let counted = 0;
      const db = index.db.withPlugin({
        transformQuery(a) {
          const node = a.node as { kind: string; sqlFragments?: readonly string[] };
          if (
            node.kind === 'RawNode' &&
            node.sqlFragments?.join('').includes('AS parent, is_dir, media_kind, count(*)')
          )
            counted++;
          return a.node;
        },
        transformResult: async (a) => a.result,
      });
      const queries = createQueries(db, index.dialect);
      // A tenant of its own, so that the other tests' entries stay as they are.
      const mine = await index.tenants.ensure('cached');
      const { id } = await index.storages.upsert({
        tenantId: mine,
        name: 'cached',
        kind: 'memory',
        location: 'memory://cached',
        options: { volume: 'cached' },
      });
      const scope = { tenantId: mine, storageId: id };
      const file = (path: string, size: number): EntryWrite =>
        toWrite({ path, isDir: false, size, mtime: 1, mediaKind: null });
      const totals = async () => {
        const s = await queries.stats(scope);
        return [s.files, s.bytes];
      };
      expect(await totals()).toEqual([0, 0]);
      await index.entries.apply(scope, [], [file('/a', 10), file('/b', 20)]);
      expect(await totals()).toEqual([2, 30]);
      expect(await totals()).toEqual([2, 30]);
      expect(counted).toBe(2);
      // Another storage's totals are kept apart, and asking for them changes nothing here.
      await queries.stats({ tenantId, storageId });
      await totals();
      expect(counted).toBe(3);
      // An update in place (a rescan finding a file grown), then a removal.
      await index.entries.apply(scope, [], [{ ...file('/a', 15), isNew: false }]);
      expect(await totals()).toEqual([2, 35]);
      await index.entries.apply(scope, [{ path: '/b', isDir: false }], []);
      expect(await totals()).toEqual([1, 15]);
      // Written by another connection (another process, or an API node apart from the worker).
      const other = await openIndex(database.url);
      try {
        await other.entries.apply(scope, [], [file('/c', 100)]);
      } finally {
        await other.close();
      }
      expect(await totals()).toEqual([2, 115]);
      expect(await totals()).toEqual([2, 115]);
      expect(counted).toBe(6);
      if (index.dialect !== 'postgres') return;
      // PostgreSQL counts writes in rows of `entry_writes`; a reader folds many into one.
      for (let i = 0; i < 120; i++) await index.entries.apply(scope, [], [file(`/n${i}`, 1)]);
      expect(await totals()).toEqual([122, 235]);
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM entry_writes WHERE storage_id = ${id}`.execute(index.db);
      expect(rows[0]!.n).toBe(1);
      expect(await totals()).toEqual([122, 235]);
      expect(counted).toBe(7);
      await index.entries.apply(scope, [{ path: '/n0', isDir: false }], []);
      expect(await totals()).toEqual([121, 234]);
    });

    it('clamps limits to 1..1000', async () => {
      expect((await index.queries.search({ tenantId, limit: 0 })).items).toHaveLength(1);
      expect((await index.queries.search({ tenantId, limit: -5 })).items).toHaveLength(1);
      const big = await index.queries.search({ tenantId, limit: 10_000 });
      expect(big.items).toHaveLength(all.length);
      expect(big.next).toBeNull();
      expect((await index.queries.search({ tenantId })).items).toHaveLength(all.length);
    });

    it('refuses a cursor it did not make for this query, naming the cursor', async () => {
      const mine = queryDigest({ tenantId });
      const first = await index.queries.search({ tenantId, sort: 'size', limit: 2 });
      const browsed = await index.queries.browse({ tenantId, storageId, dir: '/photos', limit: 2 });
      const forge = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const bad: [string, Promise<unknown>][] = [
        ['garbage', index.queries.search({ tenantId, cursor: '!!!' })],
        ['not base64 JSON', index.queries.search({ tenantId, cursor: 'aGVsbG8' })],
        ['another sort', index.queries.search({ tenantId, sort: 'name', cursor: first.next! })],
        [
          'another order',
          index.queries.search({ tenantId, sort: 'size', order: 'desc', cursor: first.next! }),
        ],
        ['a browse cursor', index.queries.search({ tenantId, cursor: browsed.next! })],
        [
          'a search cursor in browse',
          index.queries.browse({
            tenantId,
            storageId,
            dir: '/',
            sort: 'size',
            cursor: first.next!,
          }),
        ],
        [
          'a key of the wrong type',
          index.queries.search({
            tenantId,
            sort: 'size',
            cursor: forge({ v: 2, h: mine, q: 's', s: 'size', o: 'a', k: 'x', i: 1 }),
          }),
        ],
        [
          'an unknown field',
          index.queries.search({
            tenantId,
            cursor: forge({ v: 2, h: mine, q: 's', s: 'name', o: 'a', k: 'x', i: 1, t: 2 }),
          }),
        ],
        ['a number', index.queries.search({ tenantId, cursor: 42 as unknown as string })],
        [
          'a cursor of the version before queries were bound',
          index.queries.search({
            tenantId,
            cursor: forge({ v: 1, q: 's', s: 'name', o: 'a', k: '', i: 1 }),
          }),
        ],
      ];
      for (const [label, p] of bad) {
        const error = await rejection(p);
        expect(error.code, label).toBe('BAD_CURSOR');
        expect(error.field, label).toBe('cursor');
      }
      // A well-formed position, even a forged one, only moves within the caller's results.
      const forged = forge({ v: 2, h: mine, q: 's', s: 'name', o: 'a', k: '', i: 1 });
      const page = await index.queries.search({ tenantId, cursor: forged, limit: 1000 });
      expect(page.items.every((e) => e.storageId !== otherStorage)).toBe(true);
    });

    it("binds a cursor to its tenant and query: another's is refused, the same query's followed", async () => {
      const theirs = await index.queries.search({ tenantId: otherTenant, name: 'img', limit: 2 });
      const ours = await index.queries.search({ tenantId, name: 'img', limit: 2 });
      const dir = { storageId, dir: '/photos', limit: 2 };
      const theirDir = await index.queries.browse({
        ...dir,
        tenantId: otherTenant,
        storageId: otherStorage,
      });
      const ourDir = await index.queries.browse({ ...dir, tenantId });
      expect([theirs.next, ours.next, theirDir.next, ourDir.next]).not.toContain(null);
      const refused: [string, Promise<unknown>][] = [
        [
          "another tenant's, same query",
          index.queries.search({ tenantId, name: 'img', limit: 2, cursor: theirs.next! }),
        ],
        [
          'another needle',
          index.queries.search({ tenantId, name: 'IMG_0', limit: 2, cursor: ours.next! }),
        ],
        [
          'another filter added',
          index.queries.search({ tenantId, name: 'img', minSize: 1, cursor: ours.next! }),
        ],
        [
          'another storage',
          index.queries.search({ tenantId, storageId, name: 'img', cursor: ours.next! }),
        ],
        [
          "another tenant's browse of its storage, passed with ours",
          index.queries.browse({ ...dir, tenantId, cursor: theirDir.next! }),
        ],
        [
          'another directory',
          index.queries.browse({ ...dir, tenantId, dir: '/photos/sub', cursor: ourDir.next! }),
        ],
      ];
      for (const [label, p] of refused) {
        const error = await rejection(p);
        expect(error.code, label).toBe('BAD_CURSOR');
        expect(error.field, label).toBe('cursor');
        expect(error.message, label).toMatch(/another query/);
      }
      // The same query (another limit is the same query) goes on from where it stopped.
      const second = await index.queries.search({ tenantId, name: 'img', cursor: ours.next! });
      expect(second.items.length).toBeGreaterThan(0);
      expect(second.items.map((e) => e.id)).not.toContain(ours.items[0]!.id);
      const dirNext = await index.queries.browse({ ...dir, tenantId, cursor: ourDir.next! });
      expect(dirNext.items.length).toBe(2);
    });

    it('refuses bad parameters, naming each', async () => {
      const q = index.queries;
      const bad: [string, Promise<unknown>][] = [
        ['tenantId', q.search({ tenantId: 0 })],
        ['tenantId', q.search({ tenantId: '1' as unknown as number })],
        ['storageId', q.search({ tenantId, storageId: 1.5 })],
        ['limit', q.search({ tenantId, limit: 'ten' as unknown as number })],
        ['sort', q.search({ tenantId, sort: 'path' as SortKey })],
        ['order', q.search({ tenantId, order: 'up' as SortOrder })],
        ['maxSize', q.search({ tenantId, minSize: 10, maxSize: 5 })],
        ['minSize', q.search({ tenantId, minSize: -1 })],
        ['mtimeTo', q.search({ tenantId, mtimeFrom: 10, mtimeTo: 5 })],
        ['pathPrefix', q.search({ tenantId, pathPrefix: '/a/../b' })],
        ['name', q.search({ tenantId, name: 5 as unknown as string })],
        ['mediaKind', q.search({ tenantId, mediaKind: "image' OR 1=1" })],
        ['isDir', q.search({ tenantId, isDir: 1 as unknown as boolean })],
        ['dir', q.browse({ tenantId, storageId, dir: '' })],
        ['storageId', q.browse({ tenantId, storageId: undefined as unknown as number, dir: '/' })],
        ['largestDirs', q.stats({ tenantId, storageId, largestDirs: 1000 })],
      ];
      for (const [field, p] of bad) {
        const error = await rejection(p);
        expect(error.code, field).toBe('BAD_QUERY');
        expect(error.field).toBe(field);
      }
    });
  });
}
