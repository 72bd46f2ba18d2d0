/**
 * PostgreSQL's page reads (queries/plan.ts; docs/search.md, "After 011 and 012"), pinned:
 * a page from the source PageReader chose is read through that source's index (sequential
 * scans off, in its own transaction: PostgreSQL prices a source's rows as if they lay at
 * random in the table, and would scan the table for a big directory), a read of the whole
 * scope keeps them; and a page by name is walked from 012's index when no source answers.
 */
import { sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
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
  /** Every statement run through the spied handle, as SQL. */
  const statements: string[] = [];

  beforeAll(async () => {
    database = await createDatabase('postgres');
    index = await openIndex(database.url);
    ({ tenantId, storageId } = await memoryStorageScope(index));
    await index.entries.apply(
      { tenantId, storageId },
      [],
      Array.from({ length: 300 }, (_, i) => file(i)),
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
        statements.push(executor.compileQuery(node, args.queryId).sql);
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
      const page = await spied(options).search({ tenantId, ...query, limit: 5 });
      expect(page.items).toHaveLength(5);
      // 012's walk: the tenant's first index entries in name order, then the filters.
      expect(
        statements.some((s) =>
          /FROM entries WHERE tenant_id = \$\d+\s+ORDER BY name COLLATE "C" ASC, id ASC LIMIT/.test(
            s,
          ),
        ),
        JSON.stringify(query),
      ).toBe(true);
    }
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'entries_tenant_name'`.execute(
      index.db,
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('reads the whole scope as planned, sequential scans allowed', async () => {
    statements.length = 0;
    await spied().search({ tenantId, minSize: 10, maxSize: 500, sort: 'size' });
    expect(statements.some((s) => s.includes('FROM entries'))).toBe(true);
    expect(statements.some((s) => s.includes('enable_seqscan'))).toBe(false);
  });
});
