/**
 * The order a PostgreSQL COPY inserts a batch's new rows in (src/db/postgres/fill-order.ts):
 * grouped by directory, not by path within one; the same order whatever order the batch came
 * in (every writer takes its index locks alike); and rows written in it still report the id
 * of their own row. What the order saves on disk needs a tree of hundreds of thousands of
 * entries to show (docs/index-database.md, "Fill order"): measured by bench:schema, not here.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closePostgresIndex, openPostgresIndex } from './support/pg-index.js';
import type { EntryScope, EntryWrite } from '../src/db/entries.js';
import type { Index } from '../src/db/open.js';
import { fillOrder } from '../src/db/postgres/fill-order.js';
import { skipDialect, type TestDatabase } from './support/databases.js';

const write = (parent: string, name: string, isDir = false): EntryWrite => ({
  path: parent === '/' ? `/${name}` : `${parent}/${name}`,
  parent,
  name,
  isDir,
  size: name.length,
  mtime: 1000,
  etag: null,
  mediaKind: null,
  isNew: true,
});

/** The children of `dirs`, `n` each, half of them directories, in path order. */
const tree = (dirs: string[], n: number) =>
  dirs
    .flatMap((d) => Array.from({ length: n }, (_, i) => write(d, `e${i}`, i % 2 === 0)))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

describe('fillOrder', () => {
  it('keeps each directory together and does not keep path order inside one', () => {
    const rows = tree(['/a', '/a/e0', '/b'], 50);
    const ordered = fillOrder(rows);
    expect(ordered).toHaveLength(rows.length);
    expect(new Set(ordered)).toEqual(new Set(rows));
    // One run per directory: '/a/e0' sorts inside '/a' by path, but is its own group here.
    const runs = ordered.map((w) => w.parent).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(runs).toEqual(['/a', '/a/e0', '/b']);
    const names = ordered.filter((w) => w.parent === '/b').map((w) => w.name);
    expect(names).not.toEqual([...names].sort());
  });

  it('gives the same order whatever order the batch came in', () => {
    const rows = tree(['/x', '/y'], 40);
    const shuffled = [...rows].reverse();
    shuffled.push(shuffled.shift()!);
    expect(fillOrder(shuffled).map((w) => w.path)).toEqual(fillOrder(rows).map((w) => w.path));
  });
});

describe.skipIf(await skipDialect('postgres'))('COPY in fill order (PostgreSQL)', () => {
  let database: TestDatabase;
  let index: Index;
  let scope: EntryScope;
  let sql: pg.Client;

  beforeEach(async () => {
    ({ database, index, scope, sql } = await openPostgresIndex());
  });

  afterEach(() => closePostgresIndex({ database, index, sql }));

  it('reports each created row with its own id and type', async () => {
    const rows = tree(['/m', '/n'], 300);
    const { created } = await index.entries.apply(scope, [], rows);
    expect(created).toHaveLength(600);
    const { rows: stored } = await sql.query<{ id: string; is_dir: number }>(
      'SELECT id, is_dir FROM entries',
    );
    const isDir = new Map(stored.map((r) => [Number(r.id), r.is_dir === 1]));
    for (const ref of created) expect(isDir.get(ref.id)).toBe(ref.isDir);
    expect(new Set(created.map((r) => r.id))).toEqual(new Set(isDir.keys()));
  });
});
