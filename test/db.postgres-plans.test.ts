/**
 * PostgreSQL's page reads (queries/plan.ts; docs/search.md, "After 011 and 012"), pinned:
 * a page from the source PageReader chose is read through that source's index (sequential
 * scans off, in its own transaction: PostgreSQL prices a source's rows as if they lay at
 * random in the table, and would scan the table for a big directory), a read of the whole
 * scope keeps them; and a page by name is walked in the tenant's name order when no source
 * answers: a kind's own (migration 014), or the merge of every kind's and the rest's.
 */
import { CompiledQuery, sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { createQueries, type QueryOptions } from '../src/db/queries/index.js';
import {
  createDatabase,
  memoryStorageScope,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';

/** A file of no media kind, out of /big: the tenant's name order merges it with the images. */
function plain(i: number): EntryWrite {
  const name = `n${String(i).padStart(3, '0')}.txt`;
  return {
    path: `/other/${name}`,
    parent: '/other',
    name,
    isDir: false,
    size: i,
    mtime: i,
    etag: null,
    mediaKind: null,
    isNew: true,
  };
}

function file(i: number): EntryWrite {
  const name = `f${String(i).padStart(3, '0')}.jpg`;
  return {
    path: `/big/${name}`,
    parent: '/big',
    name,
    isDir: false,
    size: (i * 7919) % 1000,
    mtime: i,
    etag: null,
    mediaKind: 'image',
    isNew: true,
  };
}

describe.skipIf(await skipDialect('postgres'))('PostgreSQL page reads', () => {
  let database: TestDatabase;
  let index: Index;
  let tenantId: number;
  let storageId: number;
  /** Every statement run through the spied handle, as SQL, and as compiled (to EXPLAIN). */
  const statements: string[] = [];
  const compiled: CompiledQuery[] = [];

  beforeAll(async () => {
    database = await createDatabase('postgres');
    index = await openIndex(database.url);
    ({ tenantId, storageId } = await memoryStorageScope(index));
    await index.entries.apply(
      { tenantId, storageId },
      [],
      [
        ...Array.from({ length: 300 }, (_, i) => file(i)),
        ...Array.from({ length: 50 }, (_, i) => plain(i)),
      ],
    );
    await sql`ANALYZE entries`.execute(index.db);
  });

  afterAll(async () => {
    await index?.close();
    await database?.drop();
  });

  function spied(options: QueryOptions = {}) {
    const executor = index.db.getExecutor();
    const spy: KyselyPlugin = {
      transformQuery: (args) => {
        const node = args.node as RootOperationNode;
        const query = executor.compileQuery(node, args.queryId);
        statements.push(query.sql);
        compiled.push(query);
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    return createQueries(index.db.withPlugin(spy), 'postgres', options);
  }

  it('reads a directory by size through its index, sequential scans off', async () => {
    statements.length = 0;
    const page = await spied().browse({ tenantId, storageId, dir: '/big', sort: 'size' });
    expect(page.items.map((e) => e.size)).toEqual(
      Array.from({ length: 300 }, (_, i) => (i * 7919) % 1000)
        .sort((a, b) => a - b)
        .slice(0, 100),
    );
    const read = statements.findIndex((s) => /FROM entries WHERE storage_id = \$1/.test(s));
    expect(read).toBeGreaterThan(0);
    expect(statements[read - 1]).toContain("set_config('enable_seqscan', 'off', true)");
  });

  it('walks the tenant by name when no source answers, and for a common needle', async () => {
    // Every name here matches `jpg`: with a first window of 100, its 300 are common enough.
    const cases: [object, QueryOptions][] = [
      [{ minSize: 10, maxSize: 500 }, {}],
      [{ name: 'jpg' }, { nameWindows: [100, 1000] }],
    ];
    for (const [query, options] of cases) {
      statements.length = 0;
      compiled.length = 0;
      const page = await spied(options).search({ tenantId, ...query, limit: 5 });
      expect(page.items).toHaveLength(5);
      // The walk: the tenant's first index entries in name order, merged from 014's two
      // indexes (the entries of no kind, and each kind's), then the filters.
      const walk = compiled.find((c) =>
        /media_kind IS NULL\s+ORDER BY name COLLATE "C"/.test(c.sql),
      );
      expect(walk, JSON.stringify(query)).toBeDefined();
      const plan = await explained(walk!);
      expect(plan, JSON.stringify(query)).toMatch(/Merge Append/);
      expect(plan).toMatch(/Index (Only )?Scan using entries_tenant_plain_name/);
      expect(plan).toMatch(/Index (Only )?Scan using entries_tenant_kind_name/);
      // With the needle alone, the walk reads no table row but the page's.
      if ('name' in query) expect(plan).not.toMatch(/ Index Scan using entries_tenant/);
    }
    const { rows } = await sql<{ name: string }>`
      SELECT indexname AS name FROM pg_indexes WHERE indexname LIKE 'entries_tenant_%'
      ORDER BY 1`.execute(index.db);
    expect(rows.map((r) => r.name)).toEqual([
      'entries_tenant_kind_name',
      'entries_tenant_plain_name',
    ]);
  });

  it("walks a kind alone from the kind's own name order (014), not from the tenant's", async () => {
    const want = Array.from({ length: 300 }, (_, i) => file(i).name).slice(0, 5);
    statements.length = 0;
    compiled.length = 0;
    const page = await spied().search({ tenantId, mediaKind: 'image', limit: 5 });
    expect(page.items.map((e) => e.name)).toEqual(want);
    // One statement reads the page: the kind's first entries in name order (012's walk
    // started at the tenant's first name and tested the kind on each row).
    const walk = compiled.find((c) =>
      /FROM entries WHERE tenant_id = \$\d+ AND media_kind = \$\d+\s+ORDER BY name COLLATE "C" ASC, id ASC LIMIT/.test(
        c.sql,
      ),
    );
    expect(walk).toBeDefined();
    const plan = await explained(walk!);
    expect(plan).toMatch(/Index Scan using entries_tenant_kind_name/);
    expect(plan).not.toMatch(/Sort|Merge Append|Seq Scan/);
    expect(compiled.filter((c) => c.sql.includes('FROM entries'))).toHaveLength(1);
  });

  it('ends a walk that meets the end of the order before its window, without reading the scope', async () => {
    const sizes = Array.from({ length: 300 }, (_, i) => file(i));
    const cases: [object, string[]][] = [
      // A kind with no entry, and one whose few matches are all the walk finds.
      [{ mediaKind: 'subtitle' }, []],
      [{ mediaKind: 'image', maxSize: 9 }, sizes.filter((e) => e.size <= 9).map((e) => e.name)],
    ];
    for (const [query, want] of cases) {
      statements.length = 0;
      const page = await spied().search({ tenantId, ...query, limit: 50 });
      expect(
        page.items.map((e) => e.name),
        JSON.stringify(query),
      ).toEqual(want);
      expect(page.next).toBeNull();
      // Before, the page was read again from the tenant's storages (all their rows).
      expect(
        statements.some((s) => /storage_id IN/.test(s)),
        JSON.stringify(query),
      ).toBe(false);
    }
  });

  /**
   * The plan of a statement the queries ran, with every way to its order but an index's
   * priced out: each step an index can give in order is then read from it.
   */
  async function explained(query: CompiledQuery): Promise<string> {
    return index.db.transaction().execute(async (trx) => {
      for (const off of ['seqscan', 'bitmapscan', 'sort']) {
        await sql`SELECT set_config(${`enable_${off}`}, 'off', true)`.execute(trx);
      }
      const { rows } = await trx.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`EXPLAIN ${query.sql}`, [...query.parameters]),
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
  }

  it('reads the whole scope as planned, sequential scans allowed', async () => {
    statements.length = 0;
    await spied().search({ tenantId, minSize: 10, maxSize: 500, sort: 'size' });
    expect(statements.some((s) => s.includes('FROM entries'))).toBe(true);
    expect(statements.some((s) => s.includes('enable_seqscan'))).toBe(false);
  });
});
