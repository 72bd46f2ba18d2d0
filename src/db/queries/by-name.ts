import { sql, type Kysely } from 'kysely';
import { MEDIA_KINDS } from '../../scan/media.js';
import type { Dialect } from '../dialect.js';
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
 * A page by name walked in the tenant's name order (PostgreSQL: migrations 012 and 014;
 * SQLite: 017), from the cursor on. For each bound in `windows`, the first `bound` index
 * entries past the cursor are read in order and every filter tested on them; any entry not
 * read comes after all of them, so when `limit + 1` match, the first `limit` are the page
 * exactly. Fewer (the matches are rarer than `limit` in `bound`, or they start further on):
 * the next bound, and after the last undefined — the page is read another way; unless a
 * kind's walk met the end of the kind before `bound` entries, then what matched is all there
 * is.
 *
 * With no filter but the name (and the tenant, and a kind), the walk is an index-only scan:
 * the needle is tested on the index's own rows and only the page's rows are read from the
 * table (a needle of 2 % of 1,000,000 names: 9 ms, against 85 ms fetching and sorting its
 * 20,000 matches; docs/search.md, "After 011 and 012"). With other filters each entry walked
 * is read from the table, and only the windows but the last are walked.
 *
 * The order is kept per media kind: with a kind, the walk is of that kind's entries alone,
 * from its first name (`video` alone on the bench tree: a page in its first 101 entries,
 * ~1 ms, where 012's single order met its first name 456,555 names in). Without one, it is
 * the merge of one walk per kind and one of the entries of none (PostgreSQL: a Merge Append
 * of as many index scans; SQLite: a compound SELECT's MERGE (UNION ALL)), each in name order.
 */
export async function readByName(
  db: Kysely<Database>,
  dialect: Dialect,
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
  // SQLite's walk is never index-only: its rows come from `entries` by id.
  const indexOnly = needle !== undefined && dialect === 'postgres';
  // A walk that reads each entry's row stops before the last window: rows of a kind met
  // only 456,000 names in ("video" on the bench tree) cost 20,000 table rows for nothing,
  // 30 ms — more than the walk saves where it finds the page (docs/search.md).
  const bounds = indexOnly ? windows : windows.slice(0, Math.max(1, windows.length - 1));
  const order = orderBy(dialect, o);
  for (const bound of bounds) {
    const walk = (columns: Condition) => inNameOrder(dialect, f, o, cursor, bound, columns, order);
    const statement = indexOnly
      ? sql<Row>`
          SELECT ${COLUMNS} FROM entries WHERE id IN (
            SELECT id FROM (${walk(sql`id, name`)}) AS w
            WHERE ${testedNameMatches(dialect, needle)} ORDER BY ${order} LIMIT ${limit + 1})
          ORDER BY ${order}`
      : dialect === 'sqlite'
        ? // 017's table holds the key alone: each entry walked is read from `entries` by id,
          // in the walk's order (no sort), until a page matches.
          sql<Row>`
          SELECT ${COLUMNS} FROM (${walk(sql`walked_id`)}) AS w CROSS JOIN entries ON id = walked_id
          WHERE ${and(conditions(dialect, f, true))}
          ORDER BY ${walkedOrder(o)} LIMIT ${limit + 1}`
        : sql<Row>`
          SELECT ${COLUMNS} FROM (${walk(sql`${COLUMNS}, tenant_id`)}) AS w
          WHERE ${and(conditions(dialect, f, true))}
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
      SELECT count(*) AS n FROM (${walk(sql`id, name`)}) AS w`.execute(db);
    if (Number(read[0]?.n) < bound) return pageOf(rows, o, limit);
  }
  return undefined;
}

/**
 * The tenant's first `bound` entries past the cursor in name order (of `f`'s kind only, when
 * it names one). Each kind, and the entries of none, is a range named by equality, so each
 * is walked in name order. PostgreSQL: 014's indexes (`media_kind IS NULL` is the plain
 * index's predicate; a kind's walk names the kind, and the kind index's predicate follows
 * from it), `columns` of each entry. SQLite: 017's table (the entries of no kind under
 * `''`) and the rows above the watermark that it does not hold yet, sorted (none once a
 * search brought it up to date): their keys only, `walked_id` and `walked_name`.
 */
function inNameOrder(
  dialect: Dialect,
  f: Filters,
  o: Ordering,
  cursor: Position | undefined,
  bound: number,
  columns: Condition,
  order: Condition,
): Condition {
  const where = (kind: Condition) =>
    and([sql`tenant_id = ${f.tenantId}`, kind, ...(cursor ? [after(dialect, o, cursor)] : [])]);
  if (dialect === 'sqlite') {
    const kinds = f.mediaKind !== undefined ? [f.mediaKind] : ['', ...MEDIA_KINDS];
    // Named apart from `entries`' own columns, which the rows read by id bring.
    const keys = sql`id AS walked_id, name AS walked_name`;
    const held = kinds.map(
      (kind) =>
        sql`SELECT ${keys} FROM entries_name_order WHERE ${where(sql`media_kind = ${kind}`)}`,
    );
    const kind = f.mediaKind !== undefined ? [sql`+media_kind = ${f.mediaKind}`] : [];
    const backlog = sql`SELECT ${keys} FROM entries WHERE ${and([
      sql`id > (SELECT upto FROM search_watermark)`,
      sql`+tenant_id = ${f.tenantId}`,
      ...kind,
      ...(cursor ? [after(dialect, o, cursor)] : []),
    ])}`;
    // SQLite allows no parenthesised arm; a compound SELECT's ORDER BY merges arms that are
    // each read in that order (MERGE (UNION ALL), no sort but the backlog's), and its LIMIT
    // stops every arm once `bound` rows are out.
    return sql`${sql.join([...held, backlog], sql` UNION ALL `)}
      ORDER BY ${walkedOrder(o)} LIMIT ${bound}`;
  }
  const walk = (kind: Condition) =>
    sql`SELECT ${columns} FROM entries WHERE ${where(kind)} ORDER BY ${order} LIMIT ${bound}`;
  if (f.mediaKind !== undefined) return walk(sql`media_kind = ${f.mediaKind}`);
  const kinds = [sql`media_kind IS NULL`, ...MEDIA_KINDS.map((kind) => sql`media_kind = ${kind}`)];
  return sql`SELECT * FROM (${sql.join(
    kinds.map((kind) => sql`(${walk(kind)})`),
    sql` UNION ALL `,
  )}) AS kinds ORDER BY ${order} LIMIT ${bound}`;
}

/** SQLite: the order of a walk's keys (`walked_name`, `walked_id`), as `orderBy`'s. */
function walkedOrder(o: Ordering): Condition {
  const dir = sql.raw(o.order === 'asc' ? 'ASC' : 'DESC');
  return sql`walked_name ${dir}, walked_id ${dir}`;
}
