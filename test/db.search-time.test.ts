import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import type { EntryWrite } from '../src/db/entries.js';
import { MTIME_STEP_MS } from '../src/db/migrations/009-time-order.js';
import { openIndex, type Index } from '../src/db/open.js';
import { readByTime } from '../src/db/queries/by-time.js';
import {
  createQueries,
  type EntryView,
  type Queries,
  type SearchQuery,
  type SortOrder,
} from '../src/db/queries/index.js';
import { DIALECTS, createDatabase, skipDialect, type TestDatabase } from './support/databases.js';
import { walkPages as walk } from './support/pages.js';
import { twoTenantIndex } from './support/two-tenants.js';
import { migrateTo, seedStorage } from './support/older-index.js';

const S = MTIME_STEP_MS;

/**
 * mtimes on both sides of step bounds (k·S − 1, k·S, k·S + 1), before 1970 too (a step
 * that straddles zero), many tied; a few kinds, sizes and names.
 */
function mtimeOf(i: number): number {
  const k = (i % 9) - 3;
  return k * S + [-1, 0, 1, 0, 17][i % 5]!;
}

function write(i: number, root: string): EntryWrite {
  const kind = i % 4 === 0 ? 'video' : i % 4 === 1 ? 'image' : null;
  const name = `${i % 2 ? 'clip' : 'note'}_${String(i).padStart(3, '0')}.${kind === 'video' ? 'mkv' : 'txt'}`;
  return {
    path: `${root}/${name}`,
    parent: root,
    name,
    isDir: false,
    size: (i % 7) * 10,
    mtime: mtimeOf(i),
    etag: null,
    mediaKind: kind,
    isNew: true,
  };
}

function byTime(rows: EntryView[], order: SortOrder): string[] {
  const sign = order === 'asc' ? 1 : -1;
  return [...rows]
    .sort((a, b) => sign * (a.mtime - b.mtime || a.id - b.id))
    .map((r) => `${r.storageId}:${r.path}`);
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`Search by time on ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let tenantId: number;
    let storageId: number;
    let all: EntryView[];

    beforeAll(async () => {
      let other: number;
      let storage: (t: number, name: string) => Promise<number>;
      ({ database, index, tenantId, other, storage } = await twoTenantIndex(dialect));
      storageId = await storage(tenantId, 's');
      const second = await storage(tenantId, 's2');
      const foreign = await storage(other, 'o');
      // Each directory's row first, as a scan writes it: SQLite's children read by its id.
      const files = (n: number, root: string): EntryWrite[] => [
        { ...write(0, ''), path: root, parent: '/', name: root.slice(1), isDir: true, size: 0 },
        ...Array.from({ length: n }, (_, i) => write(i, root)),
      ];
      await index.entries.apply({ tenantId, storageId }, [], files(120, '/a'));
      await index.entries.apply({ tenantId, storageId: second }, [], files(30, '/b'));
      // Another tenant's entries in the same steps: in the index, never in a page.
      await index.entries.apply({ tenantId: other, storageId: foreign }, [], files(120, '/a'));
      // Brings SQLite's time steps up to date (013: filled in bulk with the name index), as
      // every search does first: the plans below are those of an index whose scan is done.
      await index.queries.search({ tenantId, limit: 1 });
      const q = createQueries(index.db, index.dialect, { timeOrder: false });
      all = (await walk((cursor) => q.search({ tenantId, limit: 1000, cursor }), 1000)).items;
    });

    afterAll(async () => {
      await index?.close();
      await database?.drop();
    });

    it('walks the steps in time order: a page read from them alone', async () => {
      expect(all).toHaveLength(152); // 150 files and their two directories
      for (const order of ['desc', 'asc'] as const) {
        const page = await readByTime(
          index.db,
          index.dialect,
          { tenantId, mediaKind: 'video' },
          { sort: 'mtime', order },
          5,
          [40],
        );
        // Read from the first 40 index entries' steps, not handed on to another plan.
        expect(page).toBeDefined();
        const videos = all.filter((e) => e.mediaKind === 'video');
        expect(page!.items.map((e) => `${e.storageId}:${e.path}`)).toEqual(
          byTime(videos, order).slice(0, 5),
        );
        expect(page!.next).not.toBeNull();
      }
      // Too few matches within the window: handed on (undefined), not a short page.
      const none = await readByTime(
        index.db,
        index.dialect,
        { tenantId, needle: 'nothing-like-this' },
        { sort: 'mtime', order: 'desc' },
        5,
        [10],
      );
      expect(none).toBeUndefined();
    });

    const cases: Omit<SearchQuery, 'tenantId'>[] = [
      {},
      { mediaKind: 'video' },
      { mediaKind: 'image', minSize: 20 },
      { name: 'clip' },
      { mtimeFrom: -S, mtimeTo: 2 * S },
      { mtimeFrom: 0 },
      { mtimeTo: S - 1, mediaKind: 'video' },
      { mtimeFrom: 3 * S - 1, mtimeTo: 3 * S + 1 },
      { storageId: 0 },
      { isDir: true },
    ];
    for (const c of cases) {
      it(`pages by mtime exactly, on every window, for ${JSON.stringify(c)}`, async () => {
        const q: SearchQuery = { tenantId, ...c };
        if (q.storageId === 0) q.storageId = storageId;
        const rows = all.filter(
          (e) =>
            (q.storageId === undefined || e.storageId === q.storageId) &&
            (q.mediaKind === undefined || e.mediaKind === q.mediaKind) &&
            (q.name === undefined || e.name.includes(q.name)) &&
            (q.isDir === undefined || e.isDir === q.isDir) &&
            (q.minSize === undefined || e.size >= q.minSize) &&
            (q.mtimeFrom === undefined || e.mtime >= q.mtimeFrom) &&
            (q.mtimeTo === undefined || e.mtime <= q.mtimeTo),
        );
        const planners: [string, Queries][] = [
          ['default', index.queries],
          ['window 1', createQueries(index.db, index.dialect, { timeWindows: [1], probeRows: 4 })],
          [
            'windows 3, 17',
            createQueries(index.db, index.dialect, { timeWindows: [3, 17], probeRows: 1 }),
          ],
          ['no walk', createQueries(index.db, index.dialect, { timeOrder: false })],
        ];
        for (const order of ['desc', 'asc'] as const) {
          const want = byTime(rows, order);
          for (const [label, queries] of planners) {
            for (const limit of [2, 7, 1000]) {
              const { items, short } = await walk(
                (cursor) => queries.search({ ...q, sort: 'mtime', order, limit, cursor }),
                limit,
              );
              const at = `${order} ${label} ${limit}`;
              expect(
                items.map((e) => `${e.storageId}:${e.path}`),
                at,
              ).toEqual(want);
              expect(short, at).toBe(0);
            }
          }
        }
      });
    }

    it('browses a directory too big to sort by walking the steps, exactly', async () => {
      const walked = createQueries(index.db, index.dialect, { probeRows: 4, timeWindows: [3, 17] });
      for (const order of ['desc', 'asc'] as const) {
        const want = byTime(
          all.filter((e) => e.storageId === storageId && e.path.startsWith('/a/')),
          order,
        );
        for (const limit of [5, 1000]) {
          const { items, short } = await walk(
            (cursor) =>
              walked.browse({
                tenantId,
                storageId,
                dir: '/a',
                sort: 'mtime',
                order,
                limit,
                cursor,
              }),
            limit,
          );
          expect(items.map((e) => `${e.storageId}:${e.path}`)).toEqual(want);
          expect(short).toBe(0);
        }
      }
    });

    it('finds an mtime range by name order through its steps, as a full read would', async () => {
      const few = createQueries(index.db, index.dialect, { probeRows: 1000 });
      const q = { tenantId, mtimeFrom: S - 1, mtimeTo: S + 1 };
      const want = all
        .filter((e) => e.mtime >= q.mtimeFrom && e.mtime <= q.mtimeTo)
        .map((e) => e.path)
        .sort();
      for (const queries of [few, index.queries]) {
        const { items } = await walk((cursor) => queries.search({ ...q, limit: 3, cursor }), 3);
        expect(items.map((e) => e.path).sort()).toEqual(want);
      }
    });
  });
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`migration 009 on ${dialect}`, () => {
    it('carries an 008 index over without a rescan: its entries read by time steps', async () => {
      const database = await createDatabase(dialect);
      try {
        const conn =
          dialect === 'sqlite'
            ? await connectSqlite(database.url, { prebuilt: false })
            : connectPostgres(database.url, {});
        try {
          await migrateTo(conn, '008-stats-and-large-files');
          await seedStorage(conn.db);
          for (let i = 0; i < 12; i++) {
            // SQLite's parent is a generated column since 007.
            const parent = dialect === 'sqlite' ? sql`` : sql`, parent`;
            const root = dialect === 'sqlite' ? sql`` : sql`, '/'`;
            await sql`INSERT INTO entries (tenant_id, storage_id, path${parent}, name, is_dir, size, mtime)
              VALUES (1, 1, ${`/f${i}`}${root}, ${`f${i}`}, 0, 1, ${mtimeOf(i)})`.execute(conn.db);
          }
        } finally {
          await conn.close();
        }
        const index = await openIndex(database.url);
        try {
          const { rows } =
            dialect === 'postgres'
              ? await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_indexes
                  WHERE indexname = 'entries_mtime_step'`.execute(index.db)
              : // 013 moved SQLite's steps to a table of their own.
                await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master
                  WHERE name = 'entries_time_steps'`.execute(index.db);
          expect(rows[0]!.n).toBe(1);
          const want = Array.from({ length: 12 }, (_, i) => ({ path: `/f${i}`, t: mtimeOf(i), i }))
            .sort((a, b) => b.t - a.t || b.i - a.i)
            .map((e) => e.path);
          const page = await readByTime(
            index.db,
            index.dialect,
            { tenantId: 1 },
            { sort: 'mtime', order: 'desc' },
            3,
            [5],
          );
          expect(page?.items.map((e) => e.path)).toEqual(want.slice(0, 3));
        } finally {
          await index.close();
        }
      } finally {
        await database.drop();
      }
    });
  });
}
