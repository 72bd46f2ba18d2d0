import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import type { Position } from './cursor.js';
import { QueryError } from './errors.js';
import {
  and,
  conditions,
  ftsRowids,
  nameMatches,
  needleIndexable,
  type Condition,
  type Filters,
} from './filters.js';
import {
  after,
  COLUMNS,
  orderBy,
  pageOf,
  type Ordering,
  type PageRead,
  type Row,
} from './order.js';
import { LARGE_FILE_BYTES } from '../migrations/008-stats-and-large-files.js';
import { scanWholeTable, withMappedFile } from './whole-table.js';
import { inSteps, readByTime, stepKeys, stepOf, type StepBound } from './by-time.js';
import { readByName } from './by-name.js';
import { childrenOf, sqliteChildrenKey } from './parent.js';

/**
 * How a page is read, the same way in both dialects. The index keeps only what a scan can
 * afford to write (docs/search.md): the name's trigrams, a directory's children by name,
 * the unique path index, the files of 100 MB and more by size (008), and the tenant's
 * entries by 30-day step of mtime (009). No index orders the whole tenant by size or
 * exact time, and one order by name only: each media kind's entries, and those of none
 * (PostgreSQL's 014 indexes; SQLite's 017, a table filled in bulk as 013's time steps, since
 * as an index it doubled a first write). Such an index takes its rows at random, and every
 * batch of a scan rewrites most of its pages.
 *
 * So a page is read from its **source**: of the filters an index answers alone (the
 * directory, the subtree of a storage, the name's trigrams, a `minSize` of 100 MB and
 * more, an mtime range whose steps hold at most `probeRows` rows), the one with the fewest
 * rows, counted up to `probeRows`. By mtime with no source that small, the page is walked
 * in time order from 009's steps instead (by-time.ts); by size, from 008's index; by name,
 * from the name order by kind (by-name.ts). Then every filter, the order and the cursor are
 * applied to those rows only. A directory's children by name come straight from their index, in
 * order. With no such filter the source is the tenant's storages, each read by its path
 * index — and a 1–2 character needle, which no index answers, is refused there when more
 * than `shortScanRows` entries would be read (QueryError on `name`): bounded, and the
 * caller is told to narrow the search or type more.
 */
export interface PlanOptions {
  /** Rows counted per source to pick the smallest. @default 20,000 */
  probeRows?: number;
  /** Most entries a 1–2 character needle may scan. @default 100,000 */
  shortScanRows?: number;
  /**
   * Read by size from `entries_large` (008). Off: the plans of before it, which
   * `npm run bench:search` times in the same run for comparison. @default true
   */
  largeFiles?: boolean;
  /**
   * Read by mtime from `entries_mtime_step` (009). Off: the plans of before it, which
   * `npm run bench:search` times in the same run for comparison. @default true
   */
  timeOrder?: boolean;
  /** Index entries walked by time before a page is read another way. @default [2,000, 20,000] */
  timeWindows?: readonly number[];
  /**
   * Read a page by name walking the tenant's name order by kind (PostgreSQL: 012, split by
   * kind in 014; SQLite: 017) when no smaller source serves it. Off: the plans of before it,
   * which `npm run bench:search` times in the same run for comparison. @default true
   */
  nameOrder?: boolean;
  /**
   * Index entries walked by name before a page is read another way; the first is also the
   * estimated matches of a needle below which its trigrams are read instead.
   * @default [2,000, 20,000]
   */
  nameWindows?: readonly number[];
}

export const DEFAULT_PROBE_ROWS = 20_000;
export const DEFAULT_SHORT_SCAN_ROWS = 100_000;

interface Source {
  where: Condition;
  /**
   * The filters it answers exactly, so not tested twice: a name test costs ~1 µs a row,
   * and on PostgreSQL each repeated test makes the planner expect fewer rows (a directory
   * of 100,000 read by name: 1 row expected, all 100,000 sorted, 150–350 ms; without
   * them an index walk of one page, 0.1 ms, measured).
   */
  covers?: (keyof Filters)[];
  /** A cheaper statement to count it by, when there is one. */
  count?: Condition;
  /** entries_large: the tenant's files of 100 MB and more. */
  large?: true;
  /** Taken only when it holds at most `probeRows` rows (a wide one is slower than a scan). */
  ifFew?: true;
  /** SQLite's whole table, in rowid order (whole-table.ts): read through a mapped file. */
  wholeTable?: true;
}

/** A source and its rows, counted up to a cap (Infinity: not counted). */
type Smallest = { source: Source; n: number };

/** `entries_large`'s bound, as a literal: the index serves only a WHERE that repeats it. */
const LARGE = sql.lit(LARGE_FILE_BYTES);

export class PageReader {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #probeRows: number;
  readonly #shortScanRows: number;
  readonly #largeFiles: boolean;
  readonly #timeOrder: boolean;
  readonly #timeWindows: readonly number[];
  readonly #nameOrder: boolean;
  readonly #nameWindows: readonly number[];

  constructor(db: Kysely<Database>, dialect: Dialect, options: PlanOptions = {}) {
    this.#db = db;
    this.#dialect = dialect;
    this.#probeRows = options.probeRows ?? DEFAULT_PROBE_ROWS;
    this.#shortScanRows = options.shortScanRows ?? DEFAULT_SHORT_SCAN_ROWS;
    this.#largeFiles = options.largeFiles ?? true;
    this.#timeOrder = options.timeOrder ?? true;
    this.#timeWindows = options.timeWindows ?? [2_000, this.#probeRows];
    this.#nameOrder = options.nameOrder ?? true;
    this.#nameWindows = options.nameWindows ?? [2_000, this.#probeRows];
  }

  /** Up to `limit` rows matching `f` after `after` (or from the start), in `o`'s order. */
  async read(f: Filters, o: Ordering, limit: number, after?: Position): Promise<PageRead> {
    const sources = this.#sources(f, o);
    if (this.#largeFiles && sources.every((s) => s.large)) {
      const page = await this.#fromLarge(f, o, limit, after);
      if (page) return page;
    }
    let counted: Smallest | undefined;
    if (this.#nameOrder && o.sort === 'name') {
      const walked = await this.#fromNameOrder(f, o, sources, limit, after);
      if (walked?.page) return walked.page;
      counted = walked?.smallest;
    }
    // By time, with no index source of at most `probeRows` rows: walked in time order.
    const byTime = this.#timeOrder && o.sort === 'mtime';
    const smallest = counted ?? (await this.#smallest(sources, byTime));
    if (byTime && (!smallest || smallest.n > this.#probeRows)) {
      const page = await readByTime(this.#db, this.#dialect, f, o, limit, this.#timeWindows, after);
      if (page) return page;
    }
    const source = smallest?.source ?? (await this.#scope(f));
    if (!source) return { items: [], next: null };
    const keyset = after && after.id > 0 ? [this.#after(o, after)] : [];
    // The filters are written so that no index serves them: the source's index is the only
    // one the planner can pick, whatever its statistics say.
    const rest = { ...f };
    for (const k of source.covers ?? []) delete rest[k];
    const where = and([source.where, ...conditions(this.#dialect, rest, true), ...keyset]);
    const statement = sql<Row>`
      SELECT ${COLUMNS} FROM entries WHERE ${where}
      ORDER BY ${this.#orderBy(o)} LIMIT ${limit + 1}`;
    const page = () =>
      smallest && this.#dialect === 'postgres'
        ? this.#throughIndex(statement)
        : statement.execute(this.#db);
    const { rows } = source.wholeTable ? await withMappedFile(this.#db, page) : await page();
    return pageOf(rows, o, limit);
  }

  /**
   * PostgreSQL: a source's rows read through its index, never by a scan of the table. A
   * source is an index's answer by construction, but PostgreSQL prices fetching its rows as
   * if they lay at random in the table, and a scan's rows do not: a directory's children
   * are written together. So the planner scanned all 1,000,000 rows for the big
   * directory's 100,000 (by size: 157–188 ms, against 59–110 ms through its index, load
   * 7; docs/search.md, "After 011 and 012"). The setting lasts for this transaction only; the
   * planner still picks between the index's plain and bitmap scans.
   */
  async #throughIndex(statement: RawBuilder<Row>): Promise<{ rows: Row[] }> {
    return this.#db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('enable_seqscan', 'off', true)`.execute(trx);
      return statement.execute(trx);
    });
  }

  /**
   * The filter an index answers with the fewest rows (each counted up to `probeRows`, all
   * in one statement), and its count; when all have more, the first of directory, subtree,
   * name. Undefined when there is none (an `ifFew` source over `probeRows` is none). One
   * source is counted only when `count` or `ifFew` asks (n is then Infinity).
   */
  async #smallest(
    sources: Source[],
    count = false,
    cap = this.#probeRows + 1,
  ): Promise<Smallest | undefined> {
    if (sources.length === 0) return undefined;
    if (sources.length === 1 && !count && !sources[0]!.ifFew) {
      return { source: sources[0]!, n: Infinity };
    }
    const counts = sources.map(
      (s, i) =>
        sql`(SELECT count(*) FROM (${s.count ?? sql`SELECT 1 FROM entries WHERE ${s.where}`} LIMIT ${cap}) c${sql.raw(String(i))}) AS ${sql.ref(`n${i}`)}`,
    );
    const { rows } = await sql<Record<string, number>>`SELECT ${sql.join(counts)}`.execute(
      this.#db,
    );
    const n = sources.map((_, i) => Number(rows[0]?.[`n${i}`]));
    let best: number | undefined;
    for (let i = 0; i < sources.length; i++) {
      if (sources[i]!.ifFew && n[i]! > this.#probeRows) continue;
      if (best === undefined || n[i]! < n[best]!) best = i;
    }
    return best === undefined ? undefined : { source: sources[best]!, n: n[best]! };
  }

  /**
   * By name: the page walked from the tenant's name order by kind (PostgreSQL's 014, SQLite's
   * 017; by-name.ts) when no source is cheaper. Not for a directory (its own index is in name
   * order already), nor a needle no trigram answers (refused over a wide scope, as before
   * 012), nor any needle on SQLite: its trigram table reads the matches of the searches of
   * the bench within 50 ms at p95, and SQLite has no estimate of a needle's matches to choose
   * a walk by (docs/search.md, "After 017"). A source of at
   * most `probeRows` rows is read and sorted as before (a walk would read about as many,
   * one by one); a needle PostgreSQL expects to match fewer names than the first window
   * is read from its trigrams (a walk would go far for few matches). Undefined: the page
   * is read the usual way.
   */
  async #fromNameOrder(
    f: Filters,
    o: Ordering,
    sources: Source[],
    limit: number,
    after?: Position,
  ): Promise<{ page?: PageRead; smallest?: Smallest } | undefined> {
    if (f.parent !== undefined) return undefined;
    if (f.needle !== undefined && this.#dialect === 'sqlite') return undefined;
    if (f.needle !== undefined && !needleIndexable(this.#dialect, f.needle)) return undefined;
    if (f.needle !== undefined) {
      const expected = await this.#estimate(nameMatches(this.#dialect, f.needle));
      if (expected < (this.#nameWindows[0] ?? 0)) return undefined;
    }
    const others = sources.filter((s) => !s.covers?.includes('needle'));
    const smallest = await this.#smallest(others, true);
    if (smallest && smallest.n <= this.#probeRows) {
      // Counted already: the smallest of them all when there is no needle to compare with
      // (counting again cost a month by name 10 ms, measured).
      return others.length === sources.length ? { smallest } : undefined;
    }
    return {
      page: await readByName(this.#db, this.#dialect, f, o, limit, this.#nameWindows, after),
    };
  }

  /**
   * PostgreSQL's estimate of the rows `where` selects (EXPLAIN: planned, not run). pg_trgm
   * estimates a needle's matches within a few percent on the bench tree (`kalo`: 20,202
   * for 20,548; `jpg`: 272,727 for 276,323).
   */
  async #estimate(where: Condition): Promise<number> {
    const { rows } = await sql<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>`
      EXPLAIN (FORMAT JSON) SELECT 1 FROM entries WHERE ${where}`.execute(this.#db);
    return Number(rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
  }

  async #count(s: Source, cap: number): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*) AS n FROM (${s.count ?? sql`SELECT 1 FROM entries WHERE ${s.where}`} LIMIT ${cap}) c`.execute(
      this.#db,
    );
    return Number(rows[0]?.n ?? cap);
  }

  /** The filters of `f` that one index answers alone, in order of preference. */
  #sources(f: Filters, o: Ordering): Source[] {
    const out: Source[] = [];
    if (f.storageId !== undefined && f.parent !== undefined) {
      // The children index: on SQLite (parent_id, is_dir, name) since 019, counted from the
      // index alone and read in name order; on PostgreSQL (storage_id, hash of the parent,
      // is_dir) since 020, its rows sorted. Not tenant_id here: SQLite would take another
      // index for it and read the whole storage. A storage id is unique across tenants
      // anyway, and the page's filters check the tenant.
      const isDir = f.isDir === undefined ? sql`` : sql` AND is_dir = ${f.isDir ? 1 : 0}`;
      const key = this.#dialect === 'sqlite' ? sqliteChildrenKey(f.storageId, f.parent) : undefined;
      out.push({
        where: sql`${childrenOf(this.#dialect, f.storageId, f.parent)}${isDir}`,
        covers: ['storageId', 'parent', 'isDir'],
        ...(key ? { count: sql`SELECT 1 FROM entries WHERE ${key}${isDir}` } : {}),
      });
    }
    if (f.storageId !== undefined && f.subtree) {
      out.push({
        where: sql`storage_id = ${f.storageId} AND tenant_id = ${f.tenantId}
          AND path >= ${f.subtree.lower} AND path < ${f.subtree.upper}`,
        covers: ['storageId', 'subtree'],
      });
    }
    if (f.needle !== undefined && needleIndexable(this.#dialect, f.needle)) {
      const where = nameMatches(this.#dialect, f.needle);
      // SQLite counts on the FTS table (and its backlog): an upper bound (all tenants).
      const count = this.#dialect === 'sqlite' ? ftsRowids([f.needle]) : undefined;
      out.push(count ? { where, count, covers: ['needle'] } : { where, covers: ['needle'] });
    }
    if (this.#largeFiles && f.minSize !== undefined && f.minSize >= LARGE_FILE_BYTES) {
      // entries_large: the tenant's files of 100 MB and more, by size.
      out.push({
        where: sql`tenant_id = ${f.tenantId} AND size >= ${LARGE} AND size >= ${f.minSize}`,
        large: true,
      });
    }
    const ranged = f.mtimeFrom !== undefined || f.mtimeTo !== undefined;
    if (this.#timeOrder && ranged && o.sort !== 'mtime') {
      // 009's steps (013's table on SQLite): the steps of the range, when they hold few rows. By mtime the
      // walk reads the same steps in order and stops after a page (a year to now at
      // 200,000 entries: p95 135 ms read whole and sorted).
      const range: StepBound[] = [
        ...(f.mtimeFrom === undefined ? [] : [['>=', stepOf(f.mtimeFrom)] as const]),
        ...(f.mtimeTo === undefined ? [] : [['<=', stepOf(f.mtimeTo)] as const]),
      ];
      const where = inSteps(this.#dialect, f.tenantId, range);
      // SQLite counts on 013's table alone (a backlog above the watermark is read, not counted).
      const count =
        this.#dialect === 'sqlite' ? stepKeys(this.#dialect, f.tenantId, range).select : undefined;
      out.push(count ? { where, count, ifFew: true } : { where, ifFew: true });
    }
    return out;
  }

  /**
   * By size, from `entries_large` in its order, when no other index source is smaller:
   * largest first whatever the filters, or smallest first from a `minSize` of 100 MB and
   * more. The page is read from at most `probeRows` rows of the index after the cursor,
   * every filter tested on them. Any row outside them comes after them in the order (it is
   * under 100 MB, or further along the index), so when `limit + 1` of them match, the first
   * `limit` are exactly the page and the next one says there is more. Fewer (few large
   * files match, or the cursor went below 100 MB): undefined, and the page is read the
   * usual way.
   */
  async #fromLarge(
    f: Filters,
    o: Ordering,
    limit: number,
    after?: Position,
  ): Promise<PageRead | undefined> {
    if (o.sort !== 'size') return undefined;
    if (f.maxSize !== undefined && f.maxSize < LARGE_FILE_BYTES) return undefined;
    const desc = o.order === 'desc';
    if (!desc && (f.minSize === undefined || f.minSize < LARGE_FILE_BYTES)) return undefined;
    const cursor = after && after.id > 0 ? after : undefined;
    if (desc && cursor && Number(cursor.key) < LARGE_FILE_BYTES) return undefined;
    const range = [
      sql`tenant_id = ${f.tenantId} AND size >= ${LARGE}`,
      ...(f.minSize === undefined ? [] : [sql`size >= ${f.minSize}`]),
      ...(f.maxSize === undefined ? [] : [sql`size <= ${f.maxSize}`]),
      ...(cursor ? [this.#after(o, cursor)] : []),
    ];
    // A few pages' worth first, then `probeRows`: PostgreSQL plans the subquery for all
    // of its LIMIT, and for 20,000 rows it sorts a bitmap scan's rows (16 ms at 200,000
    // entries) where a walk of the index in order stops after a page (1 ms).
    const bounds = [...new Set([Math.min(8 * (limit + 1), this.#probeRows), this.#probeRows])];
    for (const bound of bounds) {
      // In a subquery of its own (LIMIT first, then the filters): the planner walks the
      // index in order, in both dialects, and the outer statement keeps that order.
      const { rows } = await sql<Row>`
        SELECT ${COLUMNS} FROM (
          SELECT ${COLUMNS}, tenant_id FROM entries WHERE ${and(range)}
          ORDER BY ${this.#orderBy(o)} LIMIT ${bound}) AS top
        WHERE ${and(conditions(this.#dialect, f, true))}
        ORDER BY ${this.#orderBy(o)} LIMIT ${limit + 1}`.execute(this.#db);
      if (rows.length > limit) return pageOf(rows, o, limit);
    }
    return undefined;
  }

  /**
   * No index answers a filter: the tenant's storages (or the one asked for), each read by
   * its path index. A short needle may not make that scan unbounded.
   */
  async #scope(f: Filters): Promise<Source | undefined> {
    let ids: number[];
    if (f.storageId !== undefined) ids = [f.storageId];
    else {
      const { rows } = await sql<{ id: number }>`
        SELECT id FROM storages WHERE tenant_id = ${f.tenantId}`.execute(this.#db);
      ids = rows.map((r) => Number(r.id));
    }
    if (ids.length === 0) return undefined;
    const range = f.subtree
      ? sql` AND path >= ${f.subtree.lower} AND path < ${f.subtree.upper}`
      : sql``;
    const table = await scanWholeTable(this.#db, this.#dialect, ids);
    // A whole-table read names no column an index leads with: SQLite would otherwise walk
    // 009's (tenant_id, step) index and fetch every row at random (a search by size over
    // 1,000,000 entries: 6.8 s instead of 0.4 s, measured).
    const storage = table ? sql`+storage_id` : sql`storage_id`;
    const tenant = table ? sql`+tenant_id` : sql`tenant_id`;
    const source: Source = {
      where: sql`${storage} IN (${sql.join(ids)}) AND ${tenant} = ${f.tenantId}${range}`,
      ...(table ? { wholeTable: true as const } : {}),
    };
    if (f.needle !== undefined) {
      const n = await this.#count(source, this.#shortScanRows + 1);
      if (n > this.#shortScanRows) {
        throw new QueryError(
          'BAD_QUERY',
          'name',
          `a needle this short is searched by reading every entry in scope, and this scope has ` +
            `more than ${this.#shortScanRows.toLocaleString('en')}: type at least three letters ` +
            `or digits, or narrow the search with storageId and pathPrefix`,
        );
      }
    }
    return source;
  }
  #orderBy(o: Ordering): Condition {
    return orderBy(this.#dialect, o);
  }

  #after(o: Ordering, p: Position): Condition {
    return after(this.#dialect, o, p);
  }
}
