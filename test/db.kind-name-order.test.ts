/**
 * A page by name walked in the tenant's name order per media kind (PostgreSQL's 014,
 * SQLite's 017): a kind alone, a size range, no filter at all — every page, cursor after
 * cursor, is the page the plans of before the walk give (`nameOrder: false`: the tenant's
 * rows read and sorted), never a row of the other tenant; and on SQLite the page is read by
 * walking 017's index, not by reading the whole table.
 */
import Database from 'better-sqlite3';
import type { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import type { Index } from '../src/db/open.js';
import { createQueries, type Queries, type SearchQuery } from '../src/db/queries/index.js';
import { random } from '../bench/search-tree.js';
import { DIALECTS, skipDialect, type TestDatabase } from './support/databases.js';
import { walkPages } from './support/pages.js';
import { twoTenantIndex } from './support/two-tenants.js';

const KINDS = ['video', 'image', 'audio', null] as const;
// Few names, so that many entries share one and the id breaks the tie.
const WORDS = ['b', 'a b', 'Ab', 'ab', 'é', 'z', 'a', 'Z', 'ž', '_'];

function entries(r: () => number, n: number): EntryWrite[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `${WORDS[Math.floor(r() * WORDS.length)]!}${r() < 0.5 ? '' : '.x'}`;
    const dir = `/d${i}`;
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
      await index.entries.apply({ tenantId, storageId: await storage(tenantId, 's') }, [], rows);
      // A second storage of the tenant, and the same rows in another tenant.
      const more = entries(random(8), 200);
      await index.entries.apply({ tenantId, storageId: await storage(tenantId, 'u') }, [], more);
      await index.entries.apply(
        { tenantId: other, storageId: await storage(other, 'o') },
        [],
        rows,
      );
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

    it('pages every shape as the plans of before the walk, on every window', async () => {
      const before = createQueries(index.db, index.dialect, { nameOrder: false });
      const planners: [string, Queries][] = [
        ['default', index.queries],
        // Windows of a few entries: pages found in the walk, and pages handed on past it.
        ['small windows', createQueries(index.db, index.dialect, { nameWindows: [3, 40] })],
      ];
      for (const [shape, q] of shapes) {
        for (const limit of [1, 7, 50]) {
          const query = { tenantId, ...q, limit };
          const want = await walkPages((cursor) => before.search({ ...query, cursor }), limit);
          expect(want.items.length, shape).toBeGreaterThan(shape.includes('no entries') ? -1 : 5);
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
    });

    it.skipIf(dialect !== 'sqlite')(
      "reads a kind's page, or a size range's, from 017's index in order",
      async () => {
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
            const walked = plans.filter((p) => p.some((d) => d.includes('entries_kind_name')));
            expect(walked.length, shape).toBeGreaterThan(0);
            for (const plan of walked) {
              // Every read of `entries` walks the index in the page's order: no scan, no sort.
              const reads = plan.filter((d) => / entries /.test(`${d} `));
              expect(reads, shape).not.toEqual([]);
              for (const d of reads) expect(d, shape).toMatch(/INDEX entries_kind_name \(/);
              expect(plan.join('\n'), shape).not.toMatch(/TEMP B-TREE/);
            }
            // Never the whole table read and sorted, as before the walk.
            expect(plans.flat().join('\n'), shape).not.toMatch(/SCAN entries/);
          }
        } finally {
          raw.close();
        }
      },
    );
  });
}
