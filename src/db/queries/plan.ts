import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import type { Position } from './cursor.js';
import {
  and,
  conditions,
  ftsPhrase,
  nameMatches,
  needleIndexable,
  type Filters,
} from './filters.js';
import type { EntryView, SortKey, SortOrder } from './types.js';

/**
 * How a page is read, the same way in both dialects, so that no page costs more than a
 * bounded number of rows whatever the planner believes:
 *
 * 1. **Probe.** Each filter an index can answer by itself (the directory, the subtree, the
 *    name's trigrams, a size or time range) is counted, up to `probeRows`. If one has no
 *    more rows than that, the page is read from those rows alone, filtered and sorted: exact,
 *    and cheap because few.
 * 2. **Walk.** Otherwise every filter matches many rows, so the page walks the tenant's
 *    index of the sort key in order from the cursor, filtering as it goes, until the page
 *    is full or `walkRows` rows were looked at. Then the page may be short, and its `next`
 *    resumes after the last row looked at.
 *
 * Either way the order is (sort key, id), so pages join up whichever way each was read.
 */
export interface PlanOptions {
  /** @default 20,000 (measured: ~10–30 ms of rows to sort in either dialect, docs/search.md) */
  probeRows?: number;
  /** @default 20,000 */
  walkRows?: number;
}

export const DEFAULT_PROBE_ROWS = 20_000;
export const DEFAULT_WALK_ROWS = 20_000;

export interface Ordering {
  sort: SortKey;
  order: SortOrder;
}

export interface PageRead {
  items: EntryView[];
  /** Where the next page starts, or null at the end. */
  next: Position | null;
  /** How the page was read (for the bench and tests). */
  via: 'probe' | 'walk';
}

interface Row {
  id: number;
  storage_id: number;
  path: string;
  name: string;
  is_dir: number;
  size: number;
  mtime: number;
  media_kind: string | null;
}

const COLUMNS = sql.raw('id, storage_id, path, name, is_dir, size, mtime, media_kind');
/** What the filters read besides: a subquery carries them to the outer WHERE. */
const ALL = sql.raw(
  'id, tenant_id, storage_id, path, parent, name, is_dir, size, mtime, media_kind',
);

export class PageReader {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #probeRows: number;
  readonly #walkRows: number;

  constructor(db: Kysely<Database>, dialect: Dialect, options: PlanOptions = {}) {
    this.#db = db;
    this.#dialect = dialect;
    this.#probeRows = options.probeRows ?? DEFAULT_PROBE_ROWS;
    this.#walkRows = options.walkRows ?? DEFAULT_WALK_ROWS;
  }

  /** Up to `limit` rows matching `f` after `after` (or from the start), in `o`'s order. */
  async read(f: Filters, o: Ordering, limit: number, after?: Position): Promise<PageRead> {
    const source = await this.#smallSource(f);
    const keyset = after && after.id > 0 ? [this.#after(o, after)] : [];
    const where = and([...conditions(this.#dialect, f), ...keyset]);
    if (source) {
      const { rows } = await sql<Row>`
        WITH c AS MATERIALIZED (SELECT ${ALL} FROM entries WHERE ${source})
        SELECT ${COLUMNS} FROM c WHERE ${where} ORDER BY ${this.#orderBy(o)} LIMIT ${limit + 1}`.execute(
        this.#db,
      );
      return this.#page(rows, o, limit, null, 'probe');
    }
    const scope = and([sql`tenant_id = ${f.tenantId}`, ...keyset]);
    // The inner LIMIT bounds the rows looked at; the outer one stops at a full page.
    const { rows } = await sql<Row>`
      SELECT ${COLUMNS} FROM (
        SELECT ${ALL} FROM entries WHERE ${scope} ORDER BY ${this.#orderBy(o)} LIMIT ${this.#walkRows}
      ) w WHERE ${where} ORDER BY ${this.#orderBy(o)} LIMIT ${limit + 1}`.execute(this.#db);
    if (rows.length > limit) return this.#page(rows, o, limit, null, 'walk');
    // Short page: either the walk reached the end, or it ran out of rows to look at.
    const { rows: last } = await sql<{ k: string | number; id: number }>`
      SELECT ${this.#key(o.sort)} AS k, id FROM entries WHERE ${scope}
      ORDER BY ${this.#orderBy(o)} LIMIT 1 OFFSET ${this.#walkRows - 1}`.execute(this.#db);
    const stop = last[0] ? { key: last[0].k, id: last[0].id } : null;
    return this.#page(rows, o, limit, stop, 'walk');
  }

  #page(
    rows: Row[],
    o: Ordering,
    limit: number,
    stop: Position | null,
    via: 'probe' | 'walk',
  ): PageRead {
    const items = rows.slice(0, limit).map(view);
    const lastItem = items.at(-1);
    const next =
      rows.length > limit && lastItem ? { key: lastItem[o.sort], id: lastItem.id } : stop;
    return { items, next, via };
  }

  /**
   * The filter an index answers with the fewest rows, when it has at most `probeRows`
   * (counted no further), as a condition on `entries`; undefined when every one has more.
   */
  async #smallSource(f: Filters): Promise<RawBuilder<unknown> | undefined> {
    const cap = this.#probeRows + 1;
    let best: { where: RawBuilder<unknown>; n: number } | undefined;
    for (const s of this.#sources(f)) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*) AS n FROM (${s.count ?? sql`SELECT 1 FROM entries WHERE ${s.where}`} LIMIT ${cap}) c`.execute(
        this.#db,
      );
      const n = Number(rows[0]?.n ?? cap);
      if (n < cap && (!best || n < best.n)) best = { where: s.where, n };
      // A handful of rows: no other index can do much better.
      if (best && best.n <= 1000) break;
    }
    return best?.where;
  }

  /** The filters of `f` that one index answers alone, most often small first. */
  #sources(f: Filters): { where: RawBuilder<unknown>; count?: RawBuilder<unknown> }[] {
    const out: { where: RawBuilder<unknown>; count?: RawBuilder<unknown> }[] = [];
    const t = f.tenantId;
    if (f.storageId !== undefined && f.parent !== undefined) {
      out.push({
        where: sql`storage_id = ${f.storageId} AND tenant_id = ${t} AND parent = ${f.parent}`,
      });
    }
    if (f.storageId !== undefined && f.subtree) {
      out.push({
        where: sql`storage_id = ${f.storageId} AND tenant_id = ${t}
          AND path >= ${f.subtree.lower} AND path < ${f.subtree.upper}`,
      });
    }
    if (f.needle !== undefined && needleIndexable(this.#dialect, f.needle)) {
      const where = nameMatches(this.#dialect, f.needle);
      out.push(
        this.#dialect === 'sqlite'
          ? {
              where,
              // The FTS table alone: an upper bound (all tenants) with no row looked up.
              count: sql`SELECT rowid FROM entries_name_fts WHERE entries_name_fts MATCH ${ftsPhrase(f.needle)}`,
            }
          : { where },
      );
    }
    const range = (column: 'size' | 'mtime', from?: number, to?: number) => {
      if (from === undefined && to === undefined) return;
      const lower = from === undefined ? [] : [sql`${sql.ref(column)} >= ${from}`];
      const upper = to === undefined ? [] : [sql`${sql.ref(column)} <= ${to}`];
      out.push({ where: and([sql`tenant_id = ${t}`, ...lower, ...upper]) });
    };
    range('size', f.minSize, f.maxSize);
    range('mtime', f.mtimeFrom, f.mtimeTo);
    return out;
  }

  /** The sort key as the index holds it: names bytewise in both dialects. */
  #key(sort: SortKey): RawBuilder<unknown> {
    if (sort === 'name') return this.#dialect === 'postgres' ? sql`name COLLATE "C"` : sql`name`;
    return sql.ref(sort);
  }

  #orderBy(o: Ordering): RawBuilder<unknown> {
    const dir = sql.raw(o.order === 'asc' ? 'ASC' : 'DESC');
    return sql`${this.#key(o.sort)} ${dir}, id ${dir}`;
  }

  /** Rows strictly after `p` in `o`'s order, written so an index range serves it. */
  #after(o: Ordering, p: Position): RawBuilder<unknown> {
    const k = this.#key(o.sort);
    return o.order === 'asc'
      ? sql`${k} >= ${p.key} AND (${k} > ${p.key} OR id > ${p.id})`
      : sql`${k} <= ${p.key} AND (${k} < ${p.key} OR id < ${p.id})`;
  }
}

function view(r: Row): EntryView {
  return {
    id: Number(r.id),
    storageId: Number(r.storage_id),
    path: r.path,
    name: r.name,
    isDir: Number(r.is_dir) === 1,
    size: Number(r.size),
    mtime: Number(r.mtime),
    mediaKind: r.media_kind,
  };
}
