import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { browse } from './browse.js';
import { du } from './du.js';
import type { ArrayRows, CopyEntries, CopyValues } from './find-read.js';
import { find, findEntryChunks, findPages, findPathBytes, findPathPages } from './find.js';
import { PageReader, type PlanOptions } from './plan.js';
import { search } from './search.js';
import { StatsCache } from './stats-cache.js';
import type { Queries } from './types.js';

export { QueryError, type QueryErrorCode } from './errors.js';
export type * from './types.js';
export { DEFAULT_PROBE_ROWS, DEFAULT_SHORT_SCAN_ROWS, type PlanOptions } from './plan.js';

export interface QueryOptions extends PlanOptions {
  /**
   * Called before each query that may read the name index: SQLite adds the rows a scan
   * wrote since it was last brought up to date (migration 007).
   */
  beforeNameSearch?: () => void;
  /** SQLite: rows as arrays, for the reads of `find` (src/db/queries/find-read.ts). */
  arrays?: ArrayRows;
  /** PostgreSQL: one text column through COPY, for `find -0` (src/db/queries/find-read.ts). */
  copyValues?: CopyValues;
  /** PostgreSQL: entries through COPY, for `find`'s table and JSON (src/db/queries/find-read.ts). */
  copyEntries?: CopyEntries;
}

/** Browse, search and stats over the index (`Index.queries`). `options` bound each page's work. */
export function createQueries(
  db: Kysely<Database>,
  dialect: Dialect,
  options: QueryOptions = {},
): Queries {
  const reader = new PageReader(db, dialect, options);
  const stats = new StatsCache(db, dialect);
  const ready = options.beforeNameSearch ?? (() => undefined);
  const read = {
    ...(options.arrays ? { arrays: options.arrays } : {}),
    ...(options.copyValues ? { copyOut: options.copyValues } : {}),
    ...(options.copyEntries ? { copyEntries: options.copyEntries } : {}),
  };
  return {
    browse: (q) => (ready(), browse(reader, q)),
    search: (q) => (ready(), search(reader, q)),
    stats: (q) => stats.stats(q),
    find: (q, o) => (ready(), find(db, dialect, q, { ...o, ...read })),
    findPages: (q, o) => (ready(), findPages(db, dialect, q, { ...o, ...read })),
    findPathPages: (q, o) => (ready(), findPathPages(db, dialect, q, { ...o, ...read })),
    findPathBytes: (q, o) => (ready(), findPathBytes(db, dialect, q, { ...o, ...read })),
    findEntryChunks: (q, o) => (ready(), findEntryChunks(db, dialect, q, { ...o, ...read })),
    du: (q) => du(db, dialect, q),
  };
}
