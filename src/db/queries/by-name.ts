import { sql, type Kysely } from 'kysely';
import { MEDIA_KINDS } from '../../scan/media.js';
import type { Database } from '../schema.js';
import type { Position } from './cursor.js';
import { and, conditions, testedNameMatches, type Condition, type Filters } from './filters.js';
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
 * PostgreSQL: a page by name walked in the tenant's name order (migrations 012 and 014), from
 * the cursor on. For each bound in `windows`, the first `bound` index entries past the
 * cursor are read in order and every filter tested on them; any entry not read comes after
 * all of them, so when `limit + 1` match, the first `limit` are the page exactly. Fewer
 * (the matches are rarer than `limit` in `bound`, or they start further on): the next
 * bound, and after the last undefined — the page is read another way; unless a kind's walk
 * met the end of the kind before `bound` entries, then what matched is all there is.
 *
 * With no filter but the name (and the tenant, and a kind), the walk is an index-only scan:
 * the needle is tested on the index's own rows and only the page's rows are read from the
 * table (a needle of 2 % of 1,000,000 names: 9 ms, against 85 ms fetching and sorting its
 * 20,000 matches; docs/search.md, "After 011 and 012"). With other filters each entry walked
 * is read from the table, and only the windows but the last are walked.
 *
 * 014 keeps the order per media kind: with a kind, the walk is of that kind's entries alone,
 * from its first name (`video` alone on the bench tree: a page in its first 101 entries,
 * ~1 ms, where 012's single order met its first name 456,555 names in). Without one, it is
 * the merge of one walk per kind and one of the entries of none (a Merge Append of as many
 * index scans, each in name order).
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
  const walked = new Set(['tenantId', 'needle', 'mediaKind']);
  const nameOnly = Object.entries(f).every(([k, v]) => walked.has(k) || v === undefined);
  const needle = nameOnly ? f.needle : undefined;
  const indexOnly = needle !== undefined;
  // A walk that reads each entry's row stops before the last window: rows of a kind met
  // only 456,000 names in ("video" on the bench tree) cost 20,000 table rows for nothing,
  // 30 ms — more than the walk saves where it finds the page (docs/search.md).
  const bounds = indexOnly ? windows : windows.slice(0, Math.max(1, windows.length - 1));
  const order = orderBy('postgres', o);
  for (const bound of bounds) {
    const walk = (columns: Condition) => inNameOrder(f, o, cursor, bound, columns, order);
    const statement = indexOnly
      ? sql<Row>`
          SELECT ${COLUMNS} FROM entries WHERE id IN (
            SELECT id FROM (${walk(sql`id, name`)}) AS w
            WHERE ${testedNameMatches('postgres', needle)} ORDER BY ${order} LIMIT ${limit + 1})
          ORDER BY ${order}`
      : sql<Row>`
          SELECT ${COLUMNS} FROM (${walk(sql`${COLUMNS}, tenant_id`)}) AS w
          WHERE ${and(conditions('postgres', f, true))}
          ORDER BY ${order} LIMIT ${limit + 1}`;
    const { rows } = await statement.execute(db);
    if (rows.length > limit) return pageOf(rows, o, limit);
    // A kind's walk that read fewer than `bound` entries read all there is past the cursor,
    // so its matches are the rest of the results (a kind with few entries, `subtitle` on the
    // bench tree: its page, or none, without the tenant's 1,000,000 rows read and sorted).
    // Counted from the index alone, and only then: over the whole tenant the count would
    // walk the window again (2–9 ms for 20,000) where the page is handed on anyway.
    if (f.mediaKind === undefined) continue;
    const { rows: read } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (${walk(sql`id, name`)}) AS w`.execute(db);
    if (Number(read[0]?.n) < bound) return pageOf(rows, o, limit);
  }
  return undefined;
}

/**
 * The tenant's first `bound` entries past the cursor in name order (of `f`'s kind only, when
 * it names one). Each kind, and the entries of none, is a range of one of 014's indexes named
 * by equality (`media_kind IS NULL` is the plain index's predicate), so each is walked in
 * name order; a kind's walk names the kind, and 014's predicate follows from it.
 */
function inNameOrder(
  f: Filters,
  o: Ordering,
  cursor: Position | undefined,
  bound: number,
  columns: Condition,
  order: Condition,
): Condition {
  const walk = (kind: Condition) => {
    const where = and([
      sql`tenant_id = ${f.tenantId}`,
      kind,
      ...(cursor ? [after('postgres', o, cursor)] : []),
    ]);
    return sql`SELECT ${columns} FROM entries WHERE ${where} ORDER BY ${order} LIMIT ${bound}`;
  };
  if (f.mediaKind !== undefined) return walk(sql`media_kind = ${f.mediaKind}`);
  const branches = [
    walk(sql`media_kind IS NULL`),
    ...MEDIA_KINDS.map((kind) => walk(sql`media_kind = ${kind}`)),
  ];
  return sql`SELECT * FROM (${sql.join(
    branches.map((b) => sql`(${b})`),
    sql` UNION ALL `,
  )}) AS kinds ORDER BY ${order} LIMIT ${bound}`;
}
