import { sql, type Kysely, type RawBuilder } from 'kysely';
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
const MTIME_STEP = sql`(mtime / ${sql.lit(MTIME_STEP_MS)})`;

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
  const [toward, back] = desc ? (['<', '>='] as const) : (['>', '<='] as const);
  const far: StepBound[] = farEnd === undefined ? [] : [[back, stepOf(farEnd)]];
  const beyond: StepBound[] = near === undefined ? [] : [[toward, near]];
  const upTo: StepBound[] = near === undefined ? [] : [[`${toward}=`, near]];
  const dir = sql.raw(desc ? 'DESC' : 'ASC');
  const keys = stepKeys(dialect, f.tenantId, [...far, ...beyond]);
  for (const bound of windows) {
    const { rows: edge } = await sql<{ step: number | null; n: number }>`
      SELECT ${sql.raw(desc ? 'min' : 'max')}(s) AS step, count(*) AS n FROM (
        ${keys.select} ORDER BY ${keys.key} ${dir} LIMIT ${bound}) AS w`.execute(db);
    const found = edge[0]?.step;
    const all = Number(edge[0]?.n ?? 0) < bound;
    let last: StepBound[];
    if (dialect === 'sqlite' && all) {
      // The steps' table holds fewer rows than the window beyond `near`: every one of them
      // is read, and every row above the watermark, which it does not hold yet, whatever
      // its step.
      last = [];
    } else {
      const step = found === null || found === undefined ? near : Number(found);
      if (step === undefined) return { items: [], next: null };
      last = [[back, step]];
    }
    const where = and([
      inSteps(dialect, f.tenantId, [...far, ...upTo, ...last]),
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

/** A bound on the step: `step op n`. */
export type StepBound = readonly [op: '<' | '>' | '<=' | '>=', step: number];

function bounds(key: RawBuilder<unknown>, list: readonly StepBound[]): RawBuilder<unknown>[] {
  return list.map(([op, n]) => sql`${key} ${sql.raw(op)} ${n}`);
}

/**
 * The steps of a tenant's entries within `list`, one row each, from the index alone, and
 * the column to order them by: 009's index on PostgreSQL, 013's table on SQLite (the rows
 * it does not hold yet, above the watermark, are left out: a choice of how far to read, not
 * of what is read).
 */
export function stepKeys(
  dialect: Dialect,
  tenantId: number,
  list: readonly StepBound[],
): { select: RawBuilder<unknown>; key: RawBuilder<unknown> } {
  if (dialect === 'sqlite') {
    const key = sql`step`;
    return {
      key,
      select: sql`SELECT step AS s FROM entries_time_steps
        WHERE ${and([sql`tenant_id = ${tenantId}`, ...bounds(key, list)])}`,
    };
  }
  return {
    key: MTIME_STEP,
    select: sql`SELECT ${MTIME_STEP} AS s FROM entries
      WHERE ${and([sql`tenant_id = ${tenantId}`, ...bounds(MTIME_STEP, list)])}`,
  };
}

/**
 * The tenant's entries whose step is within `list`, as a condition on `entries`: 009's index
 * on PostgreSQL; on SQLite the ids of 013's table and those of the rows above the watermark
 * (at most a backlog, none once a search brought the table up to date), their step tested
 * one by one, as the name index's backlog is (filters.ts, ftsRowids).
 */
export function inSteps(
  dialect: Dialect,
  tenantId: number,
  list: readonly StepBound[],
): RawBuilder<unknown> {
  if (dialect === 'sqlite') {
    return sql`id IN (SELECT id FROM entries_time_steps
        WHERE ${and([sql`tenant_id = ${tenantId}`, ...bounds(sql`step`, list)])}
      UNION ALL SELECT id FROM entries WHERE id > (SELECT upto FROM search_watermark)
        AND ${and([sql`+tenant_id = ${tenantId}`, ...bounds(MTIME_STEP, list)])})`;
  }
  return and([sql`tenant_id = ${tenantId}`, ...bounds(MTIME_STEP, list)]);
}
