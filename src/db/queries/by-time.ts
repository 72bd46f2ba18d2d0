import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';
import { MTIME_STEP_MS } from '../migrations/009-time-order.js';
import type { Database } from '../schema.js';
import type { Position } from './cursor.js';
import { and, conditions, type Filters } from './filters.js';
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
 * `entries_mtime_step` (009) as the index holds it: the expression repeated exactly, the
 * divisor a literal, or no index serves it. Integer division truncates toward zero in both
 * dialects, so the step never decreases as mtime grows: a row of a later step is newer.
 */
export const MTIME_STEP = sql`(mtime / ${sql.lit(MTIME_STEP_MS)})`;

/** The step of an mtime, as the SQL computes it. */
export function stepOf(mtime: number): number {
  return Math.trunc(mtime / MTIME_STEP_MS);
}

/**
 * A page by mtime read from `entries_mtime_step` in its order, newest steps first (or
 * oldest, ascending), from the cursor's step on. For each bound in `windows`: the step of
 * the bound-th index entry past the cursor is found from the index alone; every row of the
 * steps up to and including it is read, every filter tested, and sorted exactly. Any row
 * not read is in a later step (earlier, descending), so comes after all of them: when
 * `limit + 1` match, the first `limit` are the page exactly; when fewer rows than the
 * bound were left, they are all there is. Otherwise the next bound, and after the last
 * undefined: the page is read another way.
 *
 * Costs the bound plus one step's rows (30 days) — a few thousand when the filters keep
 * more than a few percent of the tenant's entries, whatever its size.
 */
export async function readByTime(
  db: Kysely<Database>,
  dialect: Dialect,
  f: Filters,
  o: Ordering,
  limit: number,
  windows: readonly number[],
  at?: Position,
): Promise<PageRead | undefined> {
  const desc = o.order === 'desc';
  const cursor = at && at.id > 0 ? at : undefined;
  // The steps that can hold the page: from the cursor's (or the range's near end) to the
  // range's far end. The near step is read whole but not counted in a window: a cursor
  // deep in a big step would otherwise fill the window with rows before it.
  const nears = [
    cursor ? stepOf(Number(cursor.key)) : undefined,
    (desc ? f.mtimeTo : f.mtimeFrom) === undefined
      ? undefined
      : stepOf((desc ? f.mtimeTo : f.mtimeFrom)!),
  ].filter((s): s is number => s !== undefined);
  const near = nears.length === 0 ? undefined : desc ? Math.min(...nears) : Math.max(...nears);
  const farEnd = desc ? f.mtimeFrom : f.mtimeTo;
  const [toward, back] = desc ? ['<', '>='] : ['>', '<='];
  const tenant = sql`tenant_id = ${f.tenantId}`;
  const far = farEnd === undefined ? [] : [sql`${MTIME_STEP} ${sql.raw(back)} ${stepOf(farEnd)}`];
  const beyond = near === undefined ? [] : [sql`${MTIME_STEP} ${sql.raw(toward)} ${near}`];
  const upTo = near === undefined ? [] : [sql`${MTIME_STEP} ${sql.raw(toward)}= ${near}`];
  const dir = sql.raw(desc ? 'DESC' : 'ASC');
  for (const bound of windows) {
    const { rows: edge } = await sql<{ step: number | null; n: number }>`
      SELECT ${sql.raw(desc ? 'min' : 'max')}(s) AS step, count(*) AS n FROM (
        SELECT ${MTIME_STEP} AS s FROM entries WHERE ${and([tenant, ...far, ...beyond])}
        ORDER BY ${MTIME_STEP} ${dir} LIMIT ${bound}) AS w`.execute(db);
    const found = edge[0]?.step;
    const step = found === null || found === undefined ? near : Number(found);
    if (step === undefined) return { items: [], next: null };
    const all = Number(edge[0]?.n ?? 0) < bound;
    const where = and([
      tenant,
      ...far,
      ...upTo,
      sql`${MTIME_STEP} ${sql.raw(back)} ${step}`,
      ...conditions(dialect, f, true),
      ...(cursor ? [after(dialect, o, cursor)] : []),
    ]);
    const { rows } = await sql<Row>`
      SELECT ${COLUMNS} FROM entries WHERE ${where}
      ORDER BY ${orderBy(dialect, o)} LIMIT ${limit + 1}`.execute(db);
    if (rows.length > limit || all) return pageOf(rows, o, limit);
  }
  return undefined;
}
