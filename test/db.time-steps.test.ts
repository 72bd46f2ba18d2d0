/**
 * SQLite's time steps in a table of their own (migration 013), filled in bulk with the name
 * index above `search_watermark`, kept by trigger below it: the table always holds exactly
 * the steps of the rows up to the mark, and every page read through it — rows in the table,
 * above the mark, or both — is the page a full read gives.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryScope, EntryWrite } from '../src/db/entries.js';
import { MTIME_STEP_MS } from '../src/db/migrations/009-time-order.js';
import { openIndex, type Index } from '../src/db/open.js';
import { readByTime } from '../src/db/queries/by-time.js';
import { WHOLE_TABLE_MMAP_BYTES, withMappedFile } from '../src/db/queries/whole-table.js';
import {
  createQueries,
  type EntryView,
  type Page,
  type Queries,
  type SearchQuery,
} from '../src/db/queries/index.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import { entryWriter } from '../src/db/sqlite/entry-writer.js';
import {
  createDatabase,
  memoryStorage,
  memoryStorageScope,
  type TestDatabase,
} from './support/databases.js';
import { prng } from './fixtures/engine.js';
import { migrateTo, seedStorage } from './support/older-index.js';

const S = MTIME_STEP_MS;
const KINDS = ['video', 'image', null] as const;

/** mtimes over ten steps, on and around their bounds, before 1970 too; some tied. */
function mtimeOf(r: () => number): number {
  const k = Math.floor(r() * 10) - 3;
  return k * S + [-1, 0, 1, 17, Math.floor(r() * S)][Math.floor(r() * 5)]!;
}

function file(path: string, r: () => number, isNew = true): EntryWrite {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return {
    path,
    parent: path.slice(0, path.lastIndexOf('/')) || '/',
    name,
    isDir: false,
    size: Math.floor(r() * 100),
    mtime: mtimeOf(r),
    etag: null,
    mediaKind: KINDS[Math.floor(r() * 3)]!,
    isNew,
  };
}

async function walk(read: (cursor?: string) => Promise<Page<EntryView>>): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await read(cursor);
    out.push(...page.items.map((e) => `${e.id}:${e.path}`));
    if (!page.next) return out;
    cursor = page.next;
  }
  throw new Error('pagination did not end');
}

/** The table's rows, and the rows it should hold: every entry's up to the watermark. */
async function steps(index: Index): Promise<{ held: string[]; want: string[] }> {
  const { rows: held } = await sql<{ k: string }>`
    SELECT tenant_id || ':' || step || ':' || id AS k FROM entries_time_steps
    ORDER BY tenant_id, step, id`.execute(index.db);
  const { rows: want } = await sql<{ k: string }>`
    SELECT tenant_id || ':' || (mtime / ${sql.lit(S)}) || ':' || id AS k FROM entries
    WHERE id <= (SELECT upto FROM search_watermark) ORDER BY tenant_id, mtime / ${sql.lit(S)}, id`.execute(
    index.db,
  );
  return { held: held.map((x) => x.k), want: want.map((x) => x.k) };
}

/** Random filter combinations a time plan may serve, and the orders it pages in. */
function queries(r: () => number, n: number): Omit<SearchQuery, 'tenantId'>[] {
  const out: Omit<SearchQuery, 'tenantId'>[] = [];
  for (let i = 0; i < n; i++) {
    const q: Omit<SearchQuery, 'tenantId'> = {
      sort: (['mtime', 'mtime', 'name', 'size'] as const)[Math.floor(r() * 4)]!,
      order: r() < 0.5 ? 'asc' : 'desc',
      limit: 1 + Math.floor(r() * 7),
    };
    if (r() < 0.4) q.mediaKind = KINDS[Math.floor(r() * 2)]!;
    if (r() < 0.5) q.mtimeFrom = mtimeOf(r);
    if (r() < 0.5) q.mtimeTo = (q.mtimeFrom ?? -3 * S) + Math.floor(r() * 4 * S);
    if (r() < 0.2) q.maxSize = Math.floor(r() * 100);
    out.push(q);
  }
  return out;
}

interface Row {
  id: number;
  path: string;
  name: string;
  size: number;
  mtime: number;
  media_kind: string | null;
}

describe('SQLite time steps (migration 013)', () => {
  let database: TestDatabase;
  let index: Index;
  let scope: EntryScope;
  let foreign: EntryScope;
  const r = prng(11);

  beforeAll(async () => {
    database = await createDatabase('sqlite');
    index = await openIndex(database.url);
    const storage = async (tenant: string, name: string): Promise<EntryScope> => {
      const tenantId = await index.tenants.ensure(tenant);
      return { tenantId, storageId: await memoryStorage(index, tenantId, name) };
    };
    scope = await storage('t', 's');
    foreign = await storage('other', 'o');
  });

  afterAll(async () => {
    await index?.close();
    await database?.drop();
  });

  /** Pages through the steps, small windows so that they page; none brings the table up. */
  const walked = (): Queries =>
    createQueries(index.db, index.dialect, { probeRows: 40, timeWindows: [10, 40] });
  const full = (): Queries => createQueries(index.db, index.dialect, { timeOrder: false });

  /** The pages' rows as a plain read of the tenant's rows gives them, filtered and sorted here. */
  async function plain(q: Omit<SearchQuery, 'tenantId'>): Promise<string[]> {
    const { rows } = await sql<Row>`
      SELECT id, path, name, size, mtime, media_kind FROM entries
      WHERE tenant_id = ${scope.tenantId}`.execute(index.db);
    const key = (e: Row) => (q.sort === 'size' ? e.size : q.sort === 'mtime' ? e.mtime : e.name);
    const sign = q.order === 'desc' ? -1 : 1;
    return rows
      .filter(
        (e) =>
          (q.mediaKind === undefined || e.media_kind === q.mediaKind) &&
          (q.mtimeFrom === undefined || e.mtime >= q.mtimeFrom) &&
          (q.mtimeTo === undefined || e.mtime <= q.mtimeTo) &&
          (q.maxSize === undefined || e.size <= q.maxSize),
      )
      .sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        return sign * (x < y ? -1 : x > y ? 1 : a.id - b.id);
      })
      .map((e) => `${e.id}:${e.path}`);
  }

  async function samePages(seed: number): Promise<void> {
    const qr = prng(seed);
    for (const q of queries(qr, 40)) {
      const query = { ...q, tenantId: scope.tenantId };
      const want = await plain(q);
      for (const queries of [walked(), full()]) {
        const got = await walk((cursor) => queries.search({ ...query, cursor }));
        expect(got, JSON.stringify(q)).toEqual(want);
      }
    }
  }

  it('pages as a full read does with every row above the watermark, then below, then both', async () => {
    await index.entries.apply(
      scope,
      [],
      Array.from({ length: 150 }, (_, i) => file(`/a/f${i}`, r)),
    );
    await index.entries.apply(
      foreign,
      [],
      Array.from({ length: 80 }, (_, i) => file(`/a/f${i}`, r)),
    );
    // All above the watermark: not in the table yet, read one by one.
    expect((await steps(index)).held).toEqual([]);
    await samePages(1);
    // All in the table (a search brings it up to date first).
    await index.queries.search({ tenantId: scope.tenantId, limit: 1 });
    const now = await steps(index);
    expect(now.held).toHaveLength(230);
    expect(now.held).toEqual(now.want);
    await samePages(2);
    // Both: more rows written since.
    await index.entries.apply(
      scope,
      [],
      Array.from({ length: 60 }, (_, i) => file(`/b/f${i}`, r)),
    );
    expect((await steps(index)).held).toHaveLength(230);
    await samePages(3);
  });

  it('moves a row whose mtime changes step and drops a removed one, by trigger', async () => {
    await index.queries.search({ tenantId: scope.tenantId, limit: 1 });
    // A rescan: changed mtimes (some to another step, some within theirs), and removals.
    const changed = Array.from({ length: 100 }, (_, i) => file(`/a/f${i}`, r, false));
    const removed = Array.from({ length: 30 }, (_, i) => ({
      path: `/a/f${100 + i}`,
      isDir: false,
    }));
    await index.entries.apply(scope, removed, changed);
    const { held, want } = await steps(index);
    expect(held).toEqual(want);
    await samePages(4);
    // And once more, above the watermark: the triggers leave those rows to the catch-up.
    await index.entries.apply(
      scope,
      [],
      Array.from({ length: 20 }, (_, i) => file(`/c/f${i}`, r)),
    );
    await index.entries.apply(scope, [{ path: '/c/f0', isDir: false }], [file('/c/f1', r, false)]);
    expect(await steps(index).then((s) => s.held)).toEqual(want);
    await index.queries.search({ tenantId: scope.tenantId, limit: 1 });
    const after = await steps(index);
    expect(after.held).toEqual(after.want);
    await samePages(5);
  });
});

describe("the writer thread's copy of the steps' catch-up", () => {
  it('divides by the same step as 009 and the queries', () => {
    // entry-writer.ts runs in the writer thread as source text, with nothing imported: its
    // statement writes the divisor out.
    expect(entryWriter.toString()).toContain(`mtime / ${MTIME_STEP_MS}`);
  });
});

describe('migration 013 on sqlite', () => {
  it('carries a 010 index over without a rescan: its steps in the table, its backlog left out', async () => {
    const database = await createDatabase('sqlite');
    try {
      const conn = await connectSqlite(database.url, { prebuilt: false });
      const mtimes = Array.from({ length: 12 }, (_, i) => ((i % 5) - 2) * S + (i % 3) - 1);
      try {
        await migrateTo(conn, '010-path-key');
        await seedStorage(conn.db);
        for (let i = 0; i < 12; i++) {
          await sql`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
            VALUES (1, 1, ${`/f${i}`}, ${`f${i}`}, 0, 1, ${mtimes[i]})`.execute(conn.db);
        }
        // The first 8 rows in the name index (007's catch-up), the last 4 a backlog.
        await sql`INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries WHERE id <= 8`.execute(
          conn.db,
        );
        await sql`UPDATE search_watermark SET upto = 8`.execute(conn.db);
      } finally {
        await conn.close();
      }
      const index = await openIndex(database.url);
      try {
        const { rows: gone } = await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master
          WHERE name = 'entries_mtime_step'`.execute(index.db);
        expect(gone[0]!.n).toBe(0);
        const { held, want } = await steps(index);
        expect(want).toHaveLength(8);
        expect(held).toEqual(want);
        const order = Array.from({ length: 12 }, (_, i) => i)
          .sort((a, b) => mtimes[b]! - mtimes[a]! || b - a)
          .map((i) => `/f${i}`);
        const page = await readByTime(
          index.db,
          index.dialect,
          { tenantId: 1 },
          { sort: 'mtime', order: 'desc' },
          5,
          [3],
        );
        expect(page?.items.map((e) => e.path)).toEqual(order.slice(0, 5));
        const all = await walk((cursor) =>
          createQueries(index.db, index.dialect, { timeWindows: [2] }).search({
            tenantId: 1,
            sort: 'mtime',
            order: 'desc',
            limit: 2,
            cursor,
          }),
        );
        expect(all.map((k) => k.slice(k.indexOf(':') + 1))).toEqual(order);
        // The backlog joins the table with the name index's.
        await index.queries.search({ tenantId: 1, limit: 1 });
        const caught = await steps(index);
        expect(caught.held).toHaveLength(12);
        expect(caught.held).toEqual(caught.want);
      } finally {
        await index.close();
      }
    } finally {
      await database.drop();
    }
  });
});

describe('a whole-table read on sqlite', () => {
  it('maps the index file for the read only: unmapped after it, even when it fails', async () => {
    const database = await createDatabase('sqlite');
    const index = await openIndex(database.url);
    try {
      const { tenantId, storageId } = await memoryStorageScope(index);
      const r = prng(3);
      await index.entries.apply(
        { tenantId, storageId },
        [],
        Array.from({ length: 50 }, (_, i) => file(`/a/f${i}`, r)),
      );
      const mapped = async () =>
        Number(
          (await sql<{ mmap_size: number }>`PRAGMA mmap_size`.execute(index.db)).rows[0]?.mmap_size,
        );
      expect(await mapped()).toBe(0);
      // A kind alone by name: no index answers it, the whole table is read.
      const page = await index.queries.search({ tenantId, mediaKind: 'video', limit: 5 });
      expect(page.items.length).toBeGreaterThan(0);
      expect(await mapped()).toBe(0);
      await expect(withMappedFile(index.db, () => Promise.reject(new Error('x')))).rejects.toThrow(
        'x',
      );
      expect(await mapped()).toBe(0);
      expect(await withMappedFile(index.db, mapped)).toBe(WHOLE_TABLE_MMAP_BYTES);
    } finally {
      await index.close();
      await database.drop();
    }
  });
});
