/**
 * A page by name walked in the tenant's name order per media kind (PostgreSQL's 014,
 * SQLite's 017): a kind alone, a size range, no filter at all — every page, cursor after
 * cursor, is the page the plans of before the walk give (`nameOrder: false`: the tenant's
 * rows read and sorted), never a row of the other tenant, whether rows are above SQLite's
 * watermark (not in 017's table yet) or not. On SQLite the page is read by walking 017's
 * table, not the whole table, and the table holds exactly the rows up to the mark through
 * removals and changes of kind.
 */
import Database from 'better-sqlite3';
import { sql, type CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { createQueries, type Queries, type SearchQuery } from '../src/db/queries/index.js';
import { random } from '../bench/search-tree.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import { DIALECTS, createDatabase, skipDialect, type TestDatabase } from './support/databases.js';
import { walkPages } from './support/pages.js';
import { twoTenantIndex } from './support/two-tenants.js';
import { migrateTo, seedStorage } from './support/older-index.js';

const KINDS = ['video', 'image', 'audio', null] as const;
// Few names, so that many entries share one and the id breaks the tie.
const WORDS = ['b', 'a b', 'Ab', 'ab', 'é', 'z', 'a', 'Z', 'ž', '_'];

function entries(r: () => number, n: number, root = ''): EntryWrite[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `${WORDS[Math.floor(r() * WORDS.length)]!}${r() < 0.5 ? '' : '.x'}`;
    const dir = `${root}/d${i}`;
    const isDir = r() < 0.1;
    return {
      path: `${dir}/${name}`,
      parent: dir,
      name,
      isDir,
      size: isDir ? 0 : Math.floor(r() * 1000),
      mtime: Math.floor(r() * 1e6),
      etag: null,
      mediaKind: isDir ? null : KINDS[Math.floor(r() * KINDS.length)]!,
      isNew: true,
    };
  });
}

/** Queries on `index` whose every statement is also kept, compiled, in `statements`. */
function recording(index: Index): { queries: Queries; statements: CompiledQuery[] } {
  const statements: CompiledQuery[] = [];
  const db = index.db.withPlugin({
    transformQuery: (args) => {
      statements.push(index.db.getExecutor().compileQuery(args.node, args.queryId));
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  return { queries: createQueries(db, index.dialect), statements };
}

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`Pages by name per media kind on ${dialect}`, () => {
    let database: TestDatabase;
    let index: Index;
    let tenantId: number;

    beforeAll(async () => {
      let other: number;
      let storage: (t: number, name: string) => Promise<number>;
      ({ database, index, tenantId, other, storage } = await twoTenantIndex(dialect));
      const rows = entries(random(7), 600);
      const scope = { tenantId, storageId: await storage(tenantId, 's') };
      await index.entries.apply(scope, [], rows);
      // A second storage of the tenant, and the same rows in another tenant.
      const more = entries(random(8), 200);
      await index.entries.apply({ tenantId, storageId: await storage(tenantId, 'u') }, [], more);
      await index.entries.apply(
        { tenantId: other, storageId: await storage(other, 'o') },
        [],
        rows,
      );
      // All of it up to SQLite's watermark (a search catches up first); then rows above it,
      // and rows below it removed or given another kind (017's triggers).
      await index.queries.search({ tenantId, limit: 1 });
      const r = random(9);
      const changed = rows
        .filter((e, i) => !e.isDir && i % 5 === 0)
        .map((e) => ({ ...e, mediaKind: KINDS[Math.floor(r() * 4)]!, size: e.size + 1 }))
        .map((e) => ({ ...e, isNew: false }));
      const removed = rows.filter((_, i) => i % 7 === 1).map((e) => ({ ...e, isNew: false }));
      await index.entries.apply(scope, removed, [...changed, ...entries(random(10), 100, '/n')]);
    });

    afterAll(async () => {
      await index?.close();
      await database?.drop();
    });

    const shapes: [string, Omit<SearchQuery, 'tenantId'>][] = [
      ['a kind alone', { mediaKind: 'video' }],
      ['a kind alone, descending', { mediaKind: 'image', order: 'desc' }],
      ['a kind with no entries', { mediaKind: 'subtitle' }],
      ['a size range', { minSize: 100, maxSize: 400 }],
      ['a size range, descending', { minSize: 900, order: 'desc' }],
      ['nothing but the tenant', {}],
      ['a kind and a size', { mediaKind: 'audio', maxSize: 50 }],
    ];

    /** Every shape, paged at several sizes by each planner, against the plans of before. */
    async function expectAsBefore(planners: [string, Queries][]): Promise<void> {
      const before = createQueries(index.db, index.dialect, { nameOrder: false });
      for (const [shape, q] of shapes) {
        for (const limit of [1, 7, 50]) {
          const query = { tenantId, ...q, limit };
          const want = await walkPages((cursor) => before.search({ ...query, cursor }), limit);
          if (!shape.includes('no entries')) expect(want.items.length, shape).toBeGreaterThan(5);
          for (const [plan, queries] of planners) {
            const got = await walkPages((cursor) => queries.search({ ...query, cursor }), limit);
            const at = `${plan}: ${shape}, limit ${limit}`;
            expect(
              got.items.map((e) => e.id),
              at,
            ).toEqual(want.items.map((e) => e.id));
            expect(got.short, at).toBe(0);
          }
        }
      }
    }

    if (dialect === 'sqlite')
      it("keeps 017's table exactly the rows up to the watermark", async () => {
        const keys = async (from: string) => {
          const { rows } = await sql<{ k: string }>`
            SELECT media_kind || ':' || tenant_id || ':' || name || ':' || id AS k
            FROM ${sql.raw(from)} ORDER BY k`.execute(index.db);
          return rows.map((x) => x.k);
        };
        const want = await keys(`(SELECT coalesce(media_kind, '') AS media_kind, tenant_id, name,
          id FROM entries WHERE id <= (SELECT upto FROM search_watermark))`);
        const { rows } = await sql<{ n: number }>`
          SELECT count(*) AS n FROM entries
          WHERE id > (SELECT upto FROM search_watermark)`.execute(index.db);
        expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(100);
        expect(await keys('entries_name_order')).toEqual(want);
      });

    it('pages every shape as the plans of before the walk, on every window', async () => {
      // Nothing caught up first: on SQLite, the 100 newest rows are above the watermark.
      await expectAsBefore([
        ['as written', createQueries(index.db, index.dialect)],
        // Windows of a few entries: pages found in the walk, and pages handed on past it.
        ['small windows', createQueries(index.db, index.dialect, { nameWindows: [3, 40] })],
      ]);
      // And once a search brought the index up to date.
      await expectAsBefore([['caught up', index.queries]]);
    });

    if (dialect === 'sqlite')
      it("reads a kind's page, or a size range's, walking 017's table in order", async () => {
        const raw = new Database(database.url, { readonly: true });
        try {
          for (const [shape, q] of shapes) {
            const { queries, statements } = recording(index);
            await queries.search({ tenantId, ...q, limit: 5 });
            const plans = statements.map((s) =>
              raw
                .prepare(`EXPLAIN QUERY PLAN ${s.sql}`)
                .all(...s.parameters)
                .map((r) => (r as { detail: string }).detail),
            );
            const walked = plans.filter((p) => p.some((d) => d.includes('entries_name_order')));
            expect(walked.length, shape).toBeGreaterThan(0);
            for (const plan of walked) {
              const at = `${shape}:\n${plan.join('\n')}`;
              // Each kind's range in order (no sort), and the rows of `entries` by id only.
              const reads = plan.filter((d) => /^(SCAN|SEARCH) entries(_name_order)? /.test(d));
              for (const d of reads) {
                expect(d, at).toMatch(
                  /^SEARCH (entries_name_order USING PRIMARY KEY \(media_kind=\? AND tenant_id=\?|entries USING INTEGER PRIMARY KEY \(rowid)/,
                );
              }
              // Nothing sorted but the rows above the watermark (the walk's last arm).
              expect(
                plan.filter((d) => d.includes('TEMP B-TREE')),
                at,
              ).toHaveLength(1);
            }
            // Never the whole table read and sorted, as before the walk.
            expect(plans.flat().join('\n'), shape).not.toMatch(/SCAN entries/);
          }
        } finally {
          raw.close();
        }
      });
  });
}

describe('migration 017 on sqlite', () => {
  it('carries a 015 index over without a rescan: its rows up to the watermark in the table', async () => {
    const database = await createDatabase('sqlite');
    const names = ['b', 'a', 'c', 'a', 'B', 'd', 'a', 'e', 'b', 'f', 'A', 'g'];
    const kinds = ['video', null, 'image', 'video', null, 'video', null, 'image', 'video'];
    try {
      const conn = await connectSqlite(database.url, { prebuilt: false });
      try {
        await migrateTo(conn, '015-parent-hash');
        await seedStorage(conn.db);
        for (let i = 0; i < names.length; i++) {
          await sql`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime, media_kind)
            VALUES (1, 1, ${`/d${i}/${names[i]}`}, ${names[i]}, 0, 1, 0, ${kinds[i % kinds.length]})`.execute(
            conn.db,
          );
        }
        // The first 8 rows caught up (007's name index), the last 4 a backlog.
        await sql`INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries WHERE id <= 8`.execute(
          conn.db,
        );
        await sql`UPDATE search_watermark SET upto = 8`.execute(conn.db);
      } finally {
        await conn.close();
      }
      const index = await openIndex(database.url);
      try {
        const { rows: held } = await sql<{ k: string }>`
          SELECT media_kind || ':' || name || ':' || id AS k FROM entries_name_order
          ORDER BY media_kind, tenant_id, name, id`.execute(index.db);
        const bytewise = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
        const want = Array.from({ length: 8 }, (_, i) => ({
          kind: kinds[i % kinds.length] ?? '',
          name: names[i]!,
          id: i + 1,
        }))
          .sort((x, y) => bytewise(x.kind, y.kind) || bytewise(x.name, y.name) || x.id - y.id)
          .map((e) => `${e.kind}:${e.name}:${e.id}`);
        expect(held.map((x) => x.k)).toEqual(want);
        // Walked with the backlog (nothing caught up), pages of 2: every row, bytewise by
        // name, then by id.
        const order = names
          .map((name, i) => ({ name, id: i + 1 }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id))
          .map((e) => e.id);
        const got = await walkPages(
          (cursor) =>
            createQueries(index.db, index.dialect, { nameWindows: [3] }).search({
              tenantId: 1,
              minSize: 1,
              limit: 2,
              cursor,
            }),
          2,
        );
        expect(got.items.map((e) => e.id)).toEqual(order);
      } finally {
        await index.close();
      }
    } finally {
      await database.drop();
    }
  });
});
