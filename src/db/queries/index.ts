import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { browse } from './browse.js';
import { du } from './du.js';
import { find, findPages } from './find.js';
import { PageReader, type PlanOptions } from './plan.js';
import { search } from './search.js';
import { stats } from './stats.js';
import type { Queries } from './types.js';

export { QueryError, type QueryErrorCode } from './errors.js';
export type * from './types.js';
export { DEFAULT_PROBE_ROWS, DEFAULT_SHORT_SCAN_ROWS, type PlanOptions } from './plan.js';

/** Browse, search and stats over the index (`Index.queries`). `options` bound each page's work. */
export function createQueries(
  db: Kysely<Database>,
  dialect: Dialect,
  options: PlanOptions = {},
): Queries {
  const reader = new PageReader(db, dialect, options);
  return {
    browse: (q) => browse(reader, q),
    search: (q) => search(reader, q),
    stats: (q) => stats(db, dialect, q),
    find: (q) => find(db, dialect, q),
    findPages: (q) => findPages(db, dialect, q),
    du: (q) => du(db, q),
  };
}
