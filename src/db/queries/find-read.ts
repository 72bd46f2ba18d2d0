import {
  CompiledQuery,
  sql,
  type Kysely,
  type QueryResult,
  type SelectQueryBuilder,
  type SqlBool,
} from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import {
  and,
  escapeLike,
  ftsMatches,
  ftsRowids,
  nameMatches,
  needleIndexable,
  type Condition,
} from './filters.js';
import type { EntryChunk, FindBounds, FindSort } from './types.js';
import { childrenOf, parentIs, storageTerm } from './parent.js';

/**
 * How `find` reads every match in order with flat memory, in both dialects, with no plan
 * that costs more than one pass (bench/find.ts measures it):
 *
 * 1. **A small source.** Each filter an index answers alone (a directory's children, a
 *    subtree, the trigrams of the name's plain text or of the extensions) is counted, up to
 *    `streamRows` (on PostgreSQL only when the planner's estimate is near the bounds: see
 *    {@link FindReader.#smallSource}). The smallest is read alone (materialized, so that no
 *    plan walks another index instead), filtered and sorted by the database: in one
 *    statement when it has at most `probeRows` rows, streamed when more (on PostgreSQL,
 *    unless it stops early, planned whole with every condition: no copy of the source).
 * 2. **Walk, by path (SQLite).** Otherwise the storage's (storage, tenant, path) index in
 *    order, in pages of `chunkRows` matches, each from where the last ended, every other
 *    column wrapped so that no other index is used (only that index serves the equalities,
 *    the range and the order at once). No statement is open between pages.
 * 3. **Sorted stream.** By name, size or time in both dialects (no index orders a storage by
 *    those: a scan could not afford one, migration 006), and by path on PostgreSQL, the
 *    database sorts the matches once, in one statement planned for its whole answer. (Chunks
 *    of a walk cost PostgreSQL 1.6 s of CPU where the one statement costs 0.8 s; as keyset
 *    pages, a sparse filter had chosen a sequential scan and a sort per page.)
 *
 * A stream is a cursor in a read-only transaction on PostgreSQL (a sort past work_mem spills
 * to disk; the transaction may sit idle while the reader pauses, `| less`), a stepped
 * statement on SQLite (its sorter spills to temporary files).
 */
export interface FindReadOptions extends FindBounds {
  /** SQLite: how to read rows as arrays (the index's connection hands it in). */
  arrays?: ArrayRows;
  /** PostgreSQL: how to read one text column through COPY (the index's connection hands it in). */
  copyOut?: CopyValues;
  /** PostgreSQL: how to read entries through COPY (the index's connection hands it in). */
  copyEntries?: CopyEntries;
}

/**
 * PostgreSQL: `query`'s one text column read through `COPY (…) TO STDOUT` in a read-only
 * transaction with the sort's memory of a stream (src/db/postgres/copy-out.ts): each value's
 * exact bytes after `prefix` and ended by a NUL, in chunks of whole values.
 */
export type CopyValues = (query: CompiledQuery, prefix: string) => AsyncIterable<Buffer>;

/**
 * PostgreSQL: the rows of `query` (columns {@link COPIED_ENTRY}) read through `COPY (…) TO
 * STDOUT` as {@link copyValues} reads them (src/db/postgres/copy-entries.ts), in chunks.
 */
export type CopyEntries = (query: CompiledQuery) => AsyncIterable<EntryChunk>;

/** The columns {@link CopyEntries} reads, in order. */
export const COPIED_ENTRY = ['path', 'is_dir', 'size', 'mtime', 'media_kind'] as const;

export const DEFAULT_FIND_PROBE_ROWS = 20_000;
export const DEFAULT_FIND_STREAM_ROWS = 250_000;
export const DEFAULT_FIND_CHUNK_ROWS = 1_000;
/**
 * PostgreSQL: a source the planner estimates at more than this many times `probeRows` is
 * streamed on the estimate, uncounted (an estimate off by this factor still streams a
 * few thousand rows: no harm either way).
 */
const BROAD_ESTIMATE = 2;
/** Rows per FETCH of a sorted stream, and per batch handed on. */
const STREAM_ROWS = 2_000;

/** What the SQL can test; the caller checks globs and extensions exactly on what comes back. */
export interface FindFilters {
  tenantId: number;
  storageId: number;
  parent?: string;
  /** Path ranges [lower, upper) every match is in (several: their intersection). */
  subtrees: { lower: string; upper: string }[];
  isDir?: boolean;
  mediaKinds?: readonly string[];
  minSize?: number;
  maxSize?: number;
  /** Epoch ms, inclusive. */
  mtimeFrom?: number;
  /** Epoch ms, exclusive. */
  mtimeBefore?: number;
  /** A substring of the name, case-insensitive (a superset of the glob's matches). */
  needle?: string;
  /** Lower-case extensions without the dot; a name ends with one of them. */
  extensions?: readonly string[];
  /**
   * LIKE patterns (escape `\`) the path matches, letters of either case: the globs'
   * superset (glob.ts). SQLite tests them on the path index before it reads a row.
   */
  pathLike?: readonly string[];
  /**
   * PostgreSQL: a LIKE pattern the name matches exactly (glob.ts's `exactLike`), tested
   * `COLLATE "C"`: with it the SQL is the whole test, and the rows need no reading here.
   */
  nameExact?: { like: string; caseSensitive: boolean };
}

export interface FindOrder {
  sort: FindSort;
  order: 'asc' | 'desc';
}

/**
 * What a match is read as: the whole entry (`ls`, `find`'s table and JSON) or its path
 * alone (`find -0`: on SQLite the path index answers it with no row read). Never `name`
 * nor `storage_id`: the name is the path's last part and the storage is the one asked for,
 * and every column decoded costs (a million-row find spends most of its time turning rows
 * into JavaScript values; bench/find.ts).
 */
export type FindColumns = 'entry' | 'path';

const SELECTED: Record<FindColumns, readonly string[]> = {
  entry: ['id', 'path', 'is_dir', 'size', 'mtime', 'media_kind'],
  path: ['path'],
};

/** A row as an array of {@link SELECTED}'s columns, in order. */
export type RowArray = readonly unknown[];
/**
 * A row as read: the array of its columns, or for {@link FindColumns} `path` the path alone
 * (no array per row: 276,300 paths 0.32-0.39 s of CPU instead of 0.53-0.74 s).
 */
export type FoundRow = RowArray | string;

/**
 * Runs a compiled read and gives its rows as arrays (better-sqlite3's raw mode), with no
 * object built per row: SQLite's reads of `find` go through it when the index hands one in
 * (open.ts). A name glob matching 276,000 of 1,000,000 entries: 0.63 s of CPU as arrays,
 * 1.1–1.2 s as objects, 1.06 s as one JSON text per chunk (bench/find.ts's tree).
 */
export interface ArrayRows {
  /** `single`: each row's first column alone, not an array (better-sqlite3's pluck). */
  all(query: CompiledQuery, single: boolean): unknown[];
  /** The rows as they are stepped; the connection may run nothing else until it ends. */
  iterate(query: CompiledQuery, single: boolean): Iterable<unknown>;
}
/** What {@link FindReader.#query} builds: a select that streams and compiles. */
interface Streamable {
  stream(chunkSize: number): AsyncIterableIterator<Record<string, unknown>>;
  compile(): CompiledQuery;
}
interface Source {
  where: Condition;
  count?: Condition;
}

export class FindReader {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #probeRows: number;
  readonly #streamRows: number;
  readonly #chunkRows: number;
  readonly #arrays: ArrayRows | undefined;
  readonly #copyOut: CopyValues | undefined;
  readonly #copyEntries: CopyEntries | undefined;

  constructor(db: Kysely<Database>, dialect: Dialect, options: FindReadOptions = {}) {
    this.#db = db;
    this.#dialect = dialect;
    this.#probeRows = options.probeRows ?? DEFAULT_FIND_PROBE_ROWS;
    this.#streamRows = Math.max(this.#probeRows, options.streamRows ?? DEFAULT_FIND_STREAM_ROWS);
    this.#chunkRows = options.chunkRows ?? DEFAULT_FIND_CHUNK_ROWS;
    this.#arrays = dialect === 'sqlite' ? options.arrays : undefined;
    this.#copyOut = dialect === 'postgres' ? options.copyOut : undefined;
    this.#copyEntries = dialect === 'postgres' ? options.copyEntries : undefined;
  }

  /** Whether {@link copyPaths} can run (PostgreSQL, with COPY handed in). */
  get copies(): boolean {
    return this.#copyOut !== undefined;
  }

  /** Whether {@link copyEntries} can run (PostgreSQL, with COPY handed in). */
  get copiesEntries(): boolean {
    return this.#copyEntries !== undefined;
  }

  /**
   * PostgreSQL, `find`'s table and JSON lines: every row matching `f` in `o`'s order (at
   * most `limit`), as {@link copyPaths} reads paths: one COPY, its rows read from their
   * bytes. The caller passes only filters the SQL tests exactly.
   */
  async *copyEntries(f: FindFilters, o: FindOrder, limit: number): AsyncIterable<EntryChunk> {
    const copyEntries = this.#copyEntries;
    if (!copyEntries) throw new Error('copyEntries needs PostgreSQL with COPY');
    const query = await this.#copied(f, o, COPIED_ENTRY, limit);
    if (query) yield* copyEntries(query);
  }

  /**
   * PostgreSQL, `find -0`: the paths of every row matching `f` in `o`'s order (at most
   * `limit`), each after `prefix` and ended by a NUL, as bytes in chunks of whole paths. The
   * caller passes only filters the SQL tests exactly. One `COPY (SELECT …) TO STDOUT`: the
   * server sorts and formats, the client copies bytes (no string per row); the source is
   * chosen as {@link read} chooses it.
   */
  async *copyPaths(
    f: FindFilters,
    o: FindOrder,
    limit: number,
    prefix: string,
  ): AsyncIterable<Buffer> {
    const copyOut = this.#copyOut;
    if (!copyOut) throw new Error('copyPaths needs PostgreSQL with COPY');
    const query = await this.#copied(f, o, ['path'], limit);
    if (query) yield* copyOut(query, prefix);
  }

  /**
   * The statement a COPY reads: `columns` of every row matching `f` in `o`'s order (at most
   * `limit`, Infinity: all), from the source {@link read} would choose; undefined when
   * nothing can match.
   */
  async #copied(
    f: FindFilters,
    o: FindOrder,
    columns: readonly string[],
    limit: number,
  ): Promise<CompiledQuery | undefined> {
    if (limit === 0 || !this.#bounds(f)) return undefined;
    const source = await this.#smallSource(f);
    const small = source && source.n <= this.#probeRows ? source.where : undefined;
    const bounded = Number.isFinite(limit) ? limit : undefined;
    return this.#query(f, o, columns, small, bounded).compile();
  }

  /**
   * Every row matching `f`, in `o`'s order (ties by id), in batches, as arrays of `columns`;
   * at most `limit` when given (the caller passes one only when it keeps every row).
   * `early`: the caller stops after some rows (a `--limit` it tests globs for), so the first
   * rows should come soonest.
   */
  async *read(
    f: FindFilters,
    o: FindOrder,
    columns: FindColumns,
    limit?: number,
    early = false,
  ): AsyncIterable<FoundRow[]> {
    const bounds = this.#bounds(f);
    if (!bounds) return;
    const source = await this.#smallSource(f);
    const cols = SELECTED[columns];
    const single = columns === 'path';
    if (source && source.n <= this.#probeRows) {
      yield await this.#all(this.#query(f, o, cols, source.where, limit).compile(), single);
    } else if (source && this.#dialect === 'postgres' && !early) {
      // Planned whole by PostgreSQL with every condition in sight (it reads the source's
      // index unasked when that is cheapest): the copy a materialized source costs is gone.
      // `*.mkv`'s 89,580 of 1,000,000: 0.20 s of the server's time instead of 0.35 s.
      yield* this.#stream(this.#query(f, o, cols, undefined, limit), early, single);
    } else if (source) {
      yield* this.#stream(this.#query(f, o, cols, source.where, limit), early, single);
    } else if (o.sort === 'path' && this.#dialect === 'sqlite') {
      yield* this.#walk(f, o.order, cols, bounds, single);
    } else yield* this.#stream(this.#query(f, o, cols, undefined, limit), early, single);
  }

  /**
   * The matches in order in one statement: read from `source`'s rows alone (materialized,
   * so that no plan walks another index instead), or from the storage's.
   */
  #query(
    f: FindFilters,
    o: FindOrder,
    cols: readonly string[],
    source: Condition | undefined,
    limit?: number,
  ): Streamable {
    const where = sql<SqlBool>`${and(this.#conditions(f, false))}`;
    // The candidates under the table's own name, so one builder type serves both; with the
    // columns the conditions and the order read (SQLite's `parent_id` when asked for a
    // directory's children: the conditions test it, migration 019).
    const from = source
      ? (this.#db
          .with(
            (cte) => cte('c').materialized(),
            (db) =>
              db
                .selectFrom('entries')
                .select([
                  ...CANDIDATE,
                  // PostgreSQL computes the parent from path and name (migration 018).
                  ...(f.parent === undefined || this.#dialect === 'postgres'
                    ? []
                    : (['parent_id'] as const)),
                ])
                .where(sql<SqlBool>`${source}`),
          )
          .selectFrom('c as entries') as unknown as SelectQueryBuilder<Database, 'entries', object>)
      : this.#db.selectFrom('entries');
    const query = from
      .select(cols.map((c) => sql.ref(c).as(c)))
      .where(where)
      .orderBy(sql`${this.#orderBy(o)}`);
    return (limit === undefined ? query : query.limit(limit)) as unknown as Streamable;
  }

  /** A statement's rows at once, as arrays. */
  async #all(query: CompiledQuery, single: boolean): Promise<FoundRow[]> {
    if (this.#arrays) return this.#arrays.all(query, single) as FoundRow[];
    const { rows } = await this.#db.executeQuery<Record<string, unknown>>(query);
    return rows.map(rowOf(single));
  }

  /**
   * A statement's rows as it reads them: a stepped statement on SQLite; on PostgreSQL a
   * cursor in a read-only transaction that may sit idle while the reader pauses (a pager).
   */
  async *#stream(select: Streamable, early: boolean, single: boolean): AsyncIterable<FoundRow[]> {
    if (this.#dialect === 'sqlite') {
      yield* batches(
        this.#arrays ? this.#stepped(select.compile(), single) : objects(select, single),
      );
      return;
    }
    const query = select.compile();
    const trx = await this.#db.startTransaction().setAccessMode('read only').execute();
    let next: Promise<QueryResult<Record<string, unknown>>> | undefined;
    try {
      await sql`SET LOCAL idle_in_transaction_session_timeout = 0`.execute(trx);
      // Unless the caller stops early, the whole answer is read: the plan that is cheapest in
      // total, not the one whose first rows come soonest (a walk of the path index with a row
      // lookup for each entry). A name glob matching a quarter of 1,000,000 entries: 1.7 s
      // instead of 2.4-2.9 s (0.8 s of the server's CPU instead of 1.25 s; 1.6 s as chunks of
      // a walk). With `--limit 100` the soonest plan answers in 0.3-0.4 s, the other in 0.8 s.
      if (!early) await sql`SET LOCAL cursor_tuple_fraction = 1`.execute(trx);
      // The sort of a quarter of 1,000,000 paths needs ~38 MB: with the default 4 MB it went
      // to disk (an external merge), 1.2-1.4 s of the server's time instead of 1.6-1.8 s.
      await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
      await trx.executeQuery(
        CompiledQuery.raw(`DECLARE find_rows NO SCROLL CURSOR FOR ${query.sql}`, [
          ...query.parameters,
        ]),
      );
      // The next batch is asked for before this one is handed on, so that the server reads
      // and sends it while the caller formats this one (one connection runs one statement at
      // a time: the request waits in its queue, not on the caller).
      const fetch = () =>
        trx.executeQuery<Record<string, unknown>>(
          CompiledQuery.raw(`FETCH ${STREAM_ROWS} FROM find_rows`),
        );
      next = fetch();
      while (next) {
        const { rows }: QueryResult<Record<string, unknown>> = await next;
        next = rows.length === STREAM_ROWS ? fetch() : undefined;
        next?.catch(() => {}); // awaited on the next turn, or in `finally` if the caller stops
        if (rows.length > 0) yield rows.map(rowOf(single));
      }
    } finally {
      await next?.catch(() => {});
      await trx.rollback().execute();
    }
  }

  /**
   * SQLite's rows as arrays while Kysely's connection is held, as its own stream holds it: no
   * other query of this index runs on the connection (it would fail, busy) until the
   * statement is done.
   */
  async *#stepped(query: CompiledQuery, single: boolean): AsyncIterable<FoundRow> {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let ready = () => {};
    const acquired = new Promise<void>((resolve) => (ready = resolve));
    const done = this.#db.connection().execute(async () => {
      ready();
      await held;
    });
    await Promise.race([acquired, done]);
    try {
      yield* this.#arrays!.iterate(query, single) as Iterable<FoundRow>;
    } finally {
      release();
      await done;
    }
  }

  /**
   * SQLite: the storage's path index in order, in pages of at most `chunkRows` matches, each
   * one statement from where the last page ended (`path > last`) that SQLite answers through
   * the (storage, tenant, path) index: every other column is wrapped so that no other index
   * is used, and terms of the path alone (`pathLike`) are tested on the index before a row
   * is read. No statement is open between pages. Measured at 1,000,000 entries (`*.jpg`,
   * 276,300 rows, pages of 1,000): 0.40-0.46 s of CPU against 0.79-0.85 s for chunks of
   * 20,000 index rows each first bounded by an `OFFSET` query (that query read every index
   * entry a second time, and a chunk's ~5,500 rows, alive at once, were copied by half the
   * young collections: 373 ms of scavenges against 14-21 ms).
   */
  async *#walk(
    f: FindFilters,
    order: 'asc' | 'desc',
    cols: readonly string[],
    bounds: { lower?: string; upper?: string },
    single: boolean,
  ): AsyncIterable<FoundRow[]> {
    const scope = [sql`storage_id = ${f.storageId}`, sql`tenant_id = ${f.tenantId}`];
    if (bounds.lower !== undefined) scope.push(sql`path >= ${bounds.lower}`);
    if (bounds.upper !== undefined) scope.push(sql`path < ${bounds.upper}`);
    const filters = this.#conditions(f, true);
    const asc = order === 'asc';
    const by = sql.raw(asc ? 'path ASC' : 'path DESC');
    // Each page starts after the last one's last path.
    const at = single ? 0 : cols.indexOf('path');
    if (at < 0) throw new Error('a walk reads the path');
    const selected = sql.join(cols.map((c) => sql.ref(c)));
    const page = Math.max(1, this.#chunkRows);
    // Compiled once for every page after the first: only where it starts changes, the
    // parameter after the scope's (one each). Compiling per page was 3 % of the CPU.
    const compile = (from: Condition[]) =>
      sql`SELECT ${selected} FROM entries
        WHERE ${and([...scope, ...from, ...filters])}
        ORDER BY ${by} LIMIT ${page}`.compile(this.#db);
    const next = compile([asc ? sql`path > ${''}` : sql`path < ${''}`]);
    let query = compile([]);
    for (;;) {
      const found = await this.#all(query, single);
      if (found.length > 0) yield found;
      if (found.length < page) return;
      const last = found[found.length - 1]!;
      const after = (single ? last : (last as RowArray)[at]) as string;
      const parameters = [...next.parameters];
      parameters[scope.length] = after;
      query = { ...next, parameters };
    }
  }

  /** The path range every match is in, or undefined when the ranges given do not meet. */
  #bounds(f: FindFilters): { lower?: string; upper?: string } | undefined {
    let lower: string | undefined;
    let upper: string | undefined;
    for (const s of f.subtrees) {
      if (lower === undefined || s.lower > lower) lower = s.lower;
      if (upper === undefined || s.upper < upper) upper = s.upper;
    }
    if (lower !== undefined && upper !== undefined && lower >= upper) return undefined;
    return { ...(lower === undefined ? {} : { lower }), ...(upper === undefined ? {} : { upper }) };
  }

  /** Every condition of `f`; `walking`: each column wrapped so no index can serve it. */
  #conditions(f: FindFilters, walking: boolean): Condition[] {
    const col = walking ? this.#unindexed() : (c: string) => sql.ref(c);
    const out: Condition[] = [
      sql`${col('tenant_id')} = ${f.tenantId}`,
      f.parent !== undefined && !walking
        ? storageTerm(this.#dialect, f.storageId)
        : sql`${col('storage_id')} = ${f.storageId}`,
    ];
    if (f.parent !== undefined) {
      out.push(
        walking
          ? sql`${col('parent')} = ${f.parent}`
          : parentIs(this.#dialect, f.storageId, f.parent),
      );
    }
    for (const s of f.subtrees) {
      out.push(sql`${col('path')} >= ${s.lower} AND ${col('path')} < ${s.upper}`);
    }
    if (f.isDir !== undefined) out.push(sql`${col('is_dir')} = ${f.isDir ? 1 : 0}`);
    if (f.mediaKinds) {
      out.push(sql`${col('media_kind')} IN (${sql.join(f.mediaKinds.map((k) => sql`${k}`))})`);
    }
    if (f.minSize !== undefined) out.push(sql`${col('size')} >= ${f.minSize}`);
    if (f.maxSize !== undefined) out.push(sql`${col('size')} <= ${f.maxSize}`);
    if (f.mtimeFrom !== undefined) out.push(sql`${col('mtime')} >= ${f.mtimeFrom}`);
    if (f.mtimeBefore !== undefined) out.push(sql`${col('mtime')} < ${f.mtimeBefore}`);
    // On SQLite, terms of the path alone, which its path index answers before the row is
    // read (a walk then reads the rows of its matches only: `*.jpg` over 1,000,000 entries
    // 0.18 s instead of 0.48 s of CPU): the globs' LIKE (which holds the needle, so that
    // test goes), and the extensions, which end the path as they end the name. PostgreSQL
    // reads rows whole anyway, and its ILIKE would cost each candidate a second test.
    const sqlite = this.#dialect === 'sqlite';
    const name = col(sqlite ? 'path' : 'name');
    if (f.needle !== undefined && !(sqlite && f.pathLike)) {
      const contains = this.#contains(col('name'), f.needle);
      if (contains) out.push(contains);
    }
    if (f.extensions) {
      const ends = f.extensions.map((e) => this.#endsWith(name, `.${e}`));
      if (ends.every((c) => c !== undefined)) out.push(sql`(${sql.join(ends, sql` OR `)})`);
    }
    if (f.nameExact && !sqlite) {
      const op = sql.raw(f.nameExact.caseSensitive ? 'LIKE' : 'ILIKE');
      out.push(sql`(${col('name')} COLLATE "C") ${op} ${f.nameExact.like} ESCAPE '\\'`);
    }
    if (f.pathLike && sqlite) {
      for (const p of f.pathLike) out.push(sql`${col('path')} LIKE ${p} ESCAPE '\\'`);
    }
    return out;
  }

  /**
   * A row test of "the name contains `needle`, any case" (no index). SQLite's LIKE folds
   * ASCII only, so a needle with other letters is left to the caller's exact test; LIKE
   * rather than instr(lower(…)): half the time over a million rows (no copy of each name).
   */
  #contains(name: Condition, needle: string): Condition | undefined {
    const pattern = `%${escapeLike(needle)}%`;
    if (this.#dialect === 'postgres') return sql`${name} ILIKE ${pattern}`;
    if (!/^[\x00-\x7f]*$/.test(needle)) return undefined;
    return sql`${name} LIKE ${pattern} ESCAPE '\\'`;
  }

  #endsWith(name: Condition, suffix: string): Condition | undefined {
    const pattern = `%${escapeLike(suffix)}`;
    if (this.#dialect === 'postgres') return sql`${name} ILIKE ${pattern}`;
    if (!/^[\x00-\x7f]*$/.test(suffix)) return undefined;
    return sql`${name} LIKE ${pattern} ESCAPE '\\'`;
  }

  #unindexed(): (column: string) => Condition {
    // SQLite documents unary + as the way to keep a column's index out of a plan (the walk
    // is SQLite's only).
    return (c) => sql`+${sql.ref(c)}`;
  }

  /**
   * The filter an index answers with the fewest rows, and how many, when at most
   * `streamRows`. Counting stops there: beyond it, a walk of the storage costs less.
   */
  async #smallSource(f: FindFilters): Promise<{ where: Condition; n: number } | undefined> {
    const cap = this.#streamRows + 1;
    let best: { where: Condition; n: number } | undefined;
    for (const s of this.#sources(f)) {
      // PostgreSQL: the planner's estimate first (its statistics, no row read). A source it
      // puts past `streamRows` is not counted: counting `*.jpg`'s 276,000 of 1,000,000 names
      // up to the cap read 250,001 rows for nothing, 0.39 s; `*.mkv`'s 89,580, 0.14 s,
      // where the estimate (80,808) already says the rows are to be streamed.
      const estimate = this.#dialect === 'postgres' ? await this.#estimate(s.where) : undefined;
      if (estimate !== undefined && estimate > this.#streamRows) continue;
      if (estimate !== undefined && estimate > BROAD_ESTIMATE * this.#probeRows) {
        if (!best || estimate < best.n) best = { where: s.where, n: estimate };
        continue;
      }
      const { rows } = await sql<{ n: number }>`
        SELECT count(*) AS n FROM (${s.count ?? sql`SELECT 1 FROM entries WHERE ${s.where}`} LIMIT ${cap}) c`.execute(
        this.#db,
      );
      const n = Number(rows[0]?.n ?? cap);
      if (n < cap && (!best || n < best.n)) best = { where: s.where, n };
      if (best && best.n <= 1000) break; // a handful: no other index does much better
    }
    return best;
  }

  /** PostgreSQL's estimate of the rows `where` selects (EXPLAIN: planned, not run). */
  async #estimate(where: Condition): Promise<number> {
    const { rows } = await sql<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>`
      EXPLAIN (FORMAT JSON) SELECT 1 FROM entries WHERE ${where}`.execute(this.#db);
    return Number(rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
  }

  /** The filters of `f` one index answers alone (none orders or ranges sizes or times). */
  #sources(f: FindFilters): Source[] {
    const out: Source[] = [];
    const { tenantId: t, storageId: s } = f;
    // Not tenant_id: SQLite would then prefer the (storage, tenant, path) index and read the
    // whole storage to count one directory. The read's conditions check the tenant.
    if (f.parent !== undefined) out.push({ where: childrenOf(this.#dialect, s, f.parent) });
    for (const r of f.subtrees) {
      out.push({
        where: sql`storage_id = ${s} AND tenant_id = ${t} AND path >= ${r.lower} AND path < ${r.upper}`,
      });
    }
    // The name's plain text; the extensions as one source (any of them), when each is one
    // the index can answer.
    const groups = [
      f.needle === undefined ? [] : [f.needle],
      (f.extensions ?? []).map((e) => `.${e}`),
    ];
    for (const needles of groups) {
      if (needles.length === 0 || !needles.every((n) => needleIndexable(this.#dialect, n))) {
        continue;
      }
      if (this.#dialect === 'postgres') {
        out.push({
          where: sql`(${sql.join(
            needles.map((n) => nameMatches('postgres', n)),
            sql` OR `,
          )})`,
        });
        continue;
      }
      // The FTS table alone counts: an upper bound (every tenant) with no row looked up.
      out.push({ where: ftsMatches(needles), count: ftsRowids(needles) });
    }
    return out;
  }

  /** The sort key, names bytewise in both dialects (as paths are). */
  #key(sort: FindSort): Condition {
    if (sort === 'name') return this.#dialect === 'postgres' ? sql`name COLLATE "C"` : sql`name`;
    return sql.ref(sort);
  }

  /** Ties broken by id; a path is unique in a storage, so it needs none (its index has no id). */
  #orderBy(o: FindOrder): Condition {
    const dir = sql.raw(o.order === 'asc' ? 'ASC' : 'DESC');
    if (o.sort === 'path') return sql`path ${dir}`;
    return sql`${this.#key(o.sort)} ${dir}, id ${dir}`;
  }
}

/** The columns a source's candidates carry: every one a condition or an order may read. */
const CANDIDATE = [
  'id',
  'tenant_id',
  'storage_id',
  'path',
  'name',
  'is_dir',
  'size',
  'mtime',
  'media_kind',
] as const;

/** A row object's values in the order selected (the order of its keys). */
function rowOf(single: boolean): (r: Record<string, unknown>) => FoundRow {
  return single ? (r) => Object.values(r)[0] as string : (r) => Object.values(r);
}

async function* objects(select: Streamable, single: boolean): AsyncIterable<FoundRow> {
  const row = rowOf(single);
  for await (const r of select.stream(STREAM_ROWS)) yield row(r);
}

/** Rows in batches of {@link STREAM_ROWS}, none empty. */
async function* batches(rows: AsyncIterable<FoundRow>): AsyncIterable<FoundRow[]> {
  let batch: FoundRow[] = [];
  for await (const row of rows) {
    batch.push(row);
    if (batch.length === STREAM_ROWS) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
