import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { Position } from './cursor.js';
import { and, conditions, testedNameMatches, type Filters } from './filters.js';
import {
  after,
  COLUMNS,
  orderBy,
  pageOf,
  type Ordering,
  type PageRead,
  type Row,
} from './order.js';

/**
 * PostgreSQL: a page by name walked from `entries_tenant_name` (migration 012) in its order,
 * from the cursor on. For each bound in `windows`, the first `bound` index entries past the
 * cursor are read in order and every filter tested on them; any entry not read comes after
 * all of them, so when `limit + 1` match, the first `limit` are the page exactly. Fewer
 * (the matches are rarer than `limit` in `bound`, or they start further on): the next
 * bound, and after the last undefined — the page is read another way.
 *
 * With no filter but the name (and the tenant), the walk is an index-only scan: the needle
 * is tested on the index's own rows and only the page's rows are read from the table (a
 * needle of 2 % of 1,000,000 names: 9 ms, against 85 ms fetching and sorting its 20,000
 * matches; docs/search.md, "After 011 and 012"). With other filters each entry walked is
 * read from the table, and only the windows but the last are walked.
 */
export async function readByName(
  db: Kysely<Database>,
  f: Filters,
  o: Ordering,
  limit: number,
  windows: readonly number[],
  at?: Position,
): Promise<PageRead | undefined> {
  const cursor = at && at.id > 0 ? at : undefined;
  const order = orderBy('postgres', o);
  const walk = and([
    sql`tenant_id = ${f.tenantId}`,
    ...(cursor ? [after('postgres', o, cursor)] : []),
  ]);
  const nameOnly = Object.entries(f).every(
    ([k, v]) => k === 'tenantId' || k === 'needle' || v === undefined,
  );
  const needle = nameOnly ? f.needle : undefined;
  const indexOnly = needle !== undefined;
  // A walk that reads each entry's row stops before the last window: rows of a kind met
  // only 456,000 names in ("video" on the bench tree) cost 20,000 table rows for nothing,
  // 30 ms — more than the walk saves where it finds the page (docs/search.md).
  const bounds = indexOnly ? windows : windows.slice(0, Math.max(1, windows.length - 1));
  for (const bound of bounds) {
    const statement = indexOnly
      ? sql<Row>`
          SELECT ${COLUMNS} FROM entries WHERE id IN (
            SELECT id FROM (
              SELECT id, name FROM entries WHERE ${walk} ORDER BY ${order} LIMIT ${bound}) AS w
            WHERE ${testedNameMatches('postgres', needle)} ORDER BY ${order} LIMIT ${limit + 1})
          ORDER BY ${order}`
      : sql<Row>`
          SELECT ${COLUMNS} FROM (
            SELECT ${COLUMNS}, tenant_id, parent FROM entries WHERE ${walk}
            ORDER BY ${order} LIMIT ${bound}) AS w
          WHERE ${and(conditions('postgres', f, true))}
          ORDER BY ${order} LIMIT ${limit + 1}`;
    const { rows } = await statement.execute(db);
    if (rows.length > limit) return pageOf(rows, o, limit);
  }
  return undefined;
}
