import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { migrations } from '../src/db/migrations/index.js';
import { openIndex, type Index } from '../src/db/open.js';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { caseForms, hasCasedNonAscii, nameMatches } from '../src/db/queries/filters.js';
import {
  createQueries,
  QueryError,
  type EntryView,
  type Queries,
  type SearchQuery,
  type SortKey,
  type SortOrder,
} from '../src/db/queries/index.js';
import { random } from '../bench/search-tree.js';
import { DIALECTS, createDatabase, skipDialect, type TestDatabase } from './support/databases.js';
import { walkPages as walk } from './support/pages.js';
import { twoTenantIndex } from './support/two-tenants.js';
import { seedStorage } from './support/older-index.js';

/**
 * Name searches against a plain full read, for random needles (any case, letters with and
 * without case forms, characters LIKE and regular expressions treat as special) and random
 * filters, sorts and page sizes: every plan's pages must be the full read's rows, in its
 * order, none short. Migration 011 (PostgreSQL's trigram index bytewise) changed how a
 * needle is tested there; this is what says it finds what it found before.
 */

/** Pieces of names: ASCII of both cases, accented, Cyrillic, Greek, CJK, specials. */
const PIECES = [
  'img',
  'IMG',
  'Jpg',
  'kato',
  'KaLo',
  'café',
  'CAFÉ',
  'Ünïcode',
  'ünïcode',
  'музыка',
  'МУЗЫКА',
  'Ωμέγα',
  'ΩΜΈΓΑ',
  '日本語',
  '100%',
  'a_b',
  'x\\y',
  '[ab]',
  '(c)',
  'd.e*',
  '$^',
  'ß',
];

function write(i: number, r: () => number): EntryWrite {
  const pick = () => PIECES[Math.floor(r() * PIECES.length)]!;
  // Two media kinds and none: on PostgreSQL a walk in name order merges one walk per kind
  // and one of the rest (migration 014).
  const ext = r();
  const name = `${pick()}${r() < 0.5 ? '_' : ' '}${pick()}${i}.${ext < 0.4 ? 'jpg' : ext < 0.8 ? 'MKV' : 'txt'}`;
  const dir = `/d${i % 7}`;
  return {
    path: `${dir}/${name}`,
    parent: dir,
    name,
    isDir: false,
    size: Math.floor(r() * 1000),
    mtime: Math.floor(r() * 1e6),
    etag: null,
    mediaKind: name.endsWith('.jpg') ? 'image' : name.endsWith('.MKV') ? 'video' : null,
    isNew: true,
  };
}

const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function ordered(rows: EntryView[], sort: SortKey, order: SortOrder): EntryView[] {
  const sign = order === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const byKey = sort === 'name' ? bytewise(a.name, b.name) : a[sort] - b[sort];
    return sign * (byKey || a.id - b.id);
  });
}

/** A needle drawn from a name: a substring of 1–8 characters, each in a random case. */
function needleOf(name: string, r: () => number): string {
  const chars = [...name];
  const len = 1 + Math.floor(r() * Math.min(8, chars.length));
  const from = Math.floor(r() * (chars.length - len + 1));
  return chars
    .slice(from, from + len)
    .map((c) => (r() < 0.5 ? c.toLowerCase() : c.toUpperCase()))
    .map((c) => ([...c].length === 1 ? c : c.toLowerCase()))
    .join('');
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`Name searches on ${dialect}`, () => {
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
      const foreign = await storage(other, 'o');
      const r = random(3);
      const files = Array.from({ length: 400 }, (_, i) => write(i, r));
      await index.entries.apply({ tenantId, storageId }, [], files);
      // The same names in another tenant: never in a page.
      await index.entries.apply({ tenantId: other, storageId: foreign }, [], files);
      const full = createQueries(index.db, index.dialect);
      all = (await walk((cursor) => full.search({ tenantId, limit: 1000, cursor }), 1000)).items;
    });

    afterAll(async () => {
      await index?.close();
      await database?.drop();
    });

    function expected(q: SearchQuery): string[] {
      const needle = q.name?.toLowerCase();
      const rows = all.filter(
        (e) =>
          (needle === undefined || e.name.toLowerCase().includes(needle)) &&
          (q.pathPrefix === undefined || e.path.startsWith(`${q.pathPrefix}/`)) &&
          (q.mediaKind === undefined || e.mediaKind === q.mediaKind) &&
          (q.minSize === undefined || e.size >= q.minSize) &&
          (q.maxSize === undefined || e.size <= q.maxSize) &&
          (q.mtimeFrom === undefined || e.mtime >= q.mtimeFrom) &&
          (q.mtimeTo === undefined || e.mtime <= q.mtimeTo),
      );
      return ordered(rows, q.sort ?? 'name', q.order ?? 'asc').map((e) => e.path);
    }

    it('pages random name searches exactly as a full read, on every plan', async () => {
      expect(all).toHaveLength(400);
      const planners: [string, Queries][] = [
        ['default', index.queries],
        ['first source', createQueries(index.db, index.dialect, { probeRows: 1 })],
        // By name on PostgreSQL: walked in windows of 3, 50 and 400 index entries, whatever the
        // estimates say (a page found in the walk, or handed on past it).
        [
          'name walk',
          createQueries(index.db, index.dialect, { probeRows: 1, nameWindows: [0, 3, 50, 400] }),
        ],
        ['no name walk', createQueries(index.db, index.dialect, { nameOrder: false })],
      ];
      const r = random(5);
      let matched = 0;
      for (let i = 0; i < 80; i++) {
        const q: SearchQuery = {
          tenantId,
          ...(r() < 0.8 ? { name: needleOf(all[Math.floor(r() * all.length)]!.name, r) } : {}),
          sort: (['name', 'size', 'mtime'] as const)[Math.floor(r() * 3)]!,
          order: r() < 0.5 ? 'asc' : 'desc',
        };
        if (r() < 0.3) q.mediaKind = r() < 0.5 ? 'image' : 'video';
        if (r() < 0.3) q.minSize = Math.floor(r() * 500);
        if (r() < 0.2) q.maxSize = 500 + Math.floor(r() * 500);
        if (r() < 0.2) q.mtimeFrom = Math.floor(r() * 5e5);
        if (r() < 0.2) {
          q.storageId = storageId;
          q.pathPrefix = `/d${Math.floor(r() * 7)}`;
        }
        const want = expected(q);
        matched += want.length;
        const limit = 1 + Math.floor(r() * 30);
        for (const [plan, queries] of planners) {
          const at = `${plan}: ${JSON.stringify(q)} limit ${limit}`;
          try {
            const { items, short } = await walk(
              (cursor) => queries.search({ ...q, limit, cursor }),
              limit,
            );
            expect(
              items.map((e) => e.path),
              at,
            ).toEqual(want);
            expect(short, at).toBe(0);
          } catch (error) {
            // A 1–2 character needle may be refused over too wide a scope; never over this one.
            if (error instanceof QueryError) throw new Error(`${at}: ${error.message}`);
            throw error;
          }
        }
      }
      expect(matched).toBeGreaterThan(500);
    });

    it('finds letters with case forms in any case, and special characters as text', async () => {
      const cases: [string, number][] = [
        ['CAFÉ', all.filter((e) => e.name.toLowerCase().includes('café')).length],
        ['музыка', all.filter((e) => e.name.toLowerCase().includes('музыка')).length],
        ['ωμέγα', all.filter((e) => e.name.toLowerCase().includes('ωμέγα')).length],
        ['[ab]', all.filter((e) => e.name.includes('[ab]')).length],
        ['d.e*', all.filter((e) => e.name.includes('d.e*')).length],
        ['a_b', all.filter((e) => e.name.includes('a_b')).length],
        ['x\\y', all.filter((e) => e.name.includes('x\\y')).length],
      ];
      for (const [name, count] of cases) {
        expect(count, name).toBeGreaterThan(0);
        const { items } = await walk(
          (cursor) => index.queries.search({ tenantId, name, limit: 1000, cursor }),
          1000,
        );
        expect(items, name).toHaveLength(count);
      }
    });
  });
}

describe('caseForms', () => {
  it('writes each character as a bracket of its one-character case forms, escaped', () => {
    expect(caseForms('é.')).toBe('[\\u00e9\\u00c9][\\u002e]');
    // 'ß' upper-cases to two characters: only itself.
    expect(caseForms('ß')).toBe('[\\u00df]');
    expect(caseForms('😀')).toBe('[\\U0001f600]');
    expect(hasCasedNonAscii('café')).toBe(true);
    expect(hasCasedNonAscii('日本語 abc')).toBe(false);
  });
});

describe.skipIf(await skipDialect('postgres'))('migrations 011, 012 and 014 on postgres', () => {
  it('rebuild the trigram index bytewise and add the name orders without a rescan; searches use both', async () => {
    const database = await createDatabase('postgres');
    try {
      const conn = connectPostgres(database.url, {});
      try {
        await conn.whileOpening(async () => {
          const migrator = new Migrator({ db: conn.db, provider: migrations('postgres') });
          const { error } = await migrator.migrateTo('010-path-key');
          if (error) throw error;
        });
        await seedStorage(conn.db);
        for (const name of ['Photo.JPG', 'photo.jpg', 'CAFÉ.txt', 'café.txt', '日本語.txt']) {
          const kind = /\.jpg$/i.test(name) ? 'image' : null;
          await sql`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime, media_kind)
            VALUES (1, 1, ${`/${name}`}, '/', ${name}, 0, 1, 0, ${kind})`.execute(conn.db);
        }
      } finally {
        await conn.close();
      }
      const index = await openIndex(database.url);
      try {
        const { rows } = await sql<{ def: string }>`
          SELECT indexdef AS def FROM pg_indexes WHERE indexname = 'entries_name_trgm'`.execute(
          index.db,
        );
        expect(rows).toHaveLength(1);
        expect(rows[0]!.def).toContain('COLLATE "C" gin_trgm_ops');
        // 012, then 014: the tenant's entries by name, split by media kind, built from the
        // table too (012's single index dropped).
        const { rows: named } = await sql<{ name: string; def: string }>`
          SELECT indexname AS name, indexdef AS def FROM pg_indexes
          WHERE indexname LIKE 'entries_tenant_%' ORDER BY 1`.execute(index.db);
        expect(named).toEqual([
          {
            name: 'entries_tenant_kind_name',
            def: expect.stringMatching(
              /\(tenant_id, media_kind, name COLLATE "C", id\) WHERE \(media_kind IS NOT NULL\)$/,
            ),
          },
          {
            name: 'entries_tenant_plain_name',
            def: expect.stringMatching(
              /\(tenant_id, name COLLATE "C", id\) WHERE \(media_kind IS NULL\)$/,
            ),
          },
        ]);
        const walked = createQueries(index.db, index.dialect, { nameWindows: [0, 10] });
        expect((await walked.search({ tenantId: 1, limit: 2 })).items.map((e) => e.name)).toEqual([
          'CAFÉ.txt',
          'Photo.JPG',
        ]);
        const names = async (name: string) =>
          (await index.queries.search({ tenantId: 1, name })).items.map((e) => e.name);
        expect(await names('PHOTO')).toEqual(['Photo.JPG', 'photo.jpg']);
        expect(await names('Café')).toEqual(['CAFÉ.txt', 'café.txt']);
        expect(await names('日本語')).toEqual(['日本語.txt']);
        // The index serves each form of the test: with all but bitmap scans off, a test it
        // cannot serve would still be planned as a scan of the table.
        for (const needle of ['photo', 'café', '日本語']) {
          const plan = await index.db.transaction().execute(async (trx) => {
            for (const scan of ['seqscan', 'indexscan', 'indexonlyscan']) {
              await sql`SELECT set_config(${`enable_${scan}`}, 'off', true)`.execute(trx);
            }
            const { rows: lines } = await sql<{ 'QUERY PLAN': string }>`
              EXPLAIN SELECT id FROM entries WHERE ${nameMatches('postgres', needle)}`.execute(trx);
            return lines.map((l) => l['QUERY PLAN']).join('\n');
          });
          expect(plan, needle).toContain('entries_name_trgm');
        }
      } finally {
        await index.close();
      }
    } finally {
      await database.drop();
    }
  });
});
