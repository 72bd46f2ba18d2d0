import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { QueryError } from './errors.js';
import { parentOfRow } from './parent.js';
import type { StatsQuery, StorageStats } from './types.js';
import { idOf } from './validate.js';
import { scanWholeTable } from './whole-table.js';

export const MAX_LARGEST_DIRS = 100;

interface Group {
  parent: string;
  is_dir: number;
  media_kind: string | null;
  n: number;
  bytes: number;
}

/** A stats query, checked: the storage, and how many largest directories to list. */
export interface StatsOf {
  tenantId: number;
  storageId: number;
  largestDirs: number;
}

export function statsOf(q: StatsQuery): StatsOf {
  if (typeof q !== 'object' || q === null)
    throw new QueryError('BAD_QUERY', 'query', 'expected an object');
  const tenantId = idOf('tenantId', q.tenantId);
  const storageId = idOf('storageId', q.storageId);
  const top = q.largestDirs ?? 10;
  if (!Number.isSafeInteger(top) || top < 0 || top > MAX_LARGEST_DIRS) {
    throw new QueryError(
      'BAD_QUERY',
      'largestDirs',
      `expected an integer from 0 to ${MAX_LARGEST_DIRS}`,
    );
  }
  return { tenantId, storageId, largestDirs: top };
}

/**
 * A storage's totals in one pass over its entries: one GROUP BY (directory, kind) whose few
 * thousand groups are summed here into totals, kinds and directories. A largest directory
 * is the one whose files directly in it weigh most (not its whole subtree: that would list
 * the root and each of its ancestors first). `top` of them are listed (at most 100: what a
 * cache keeps, src/db/queries/stats-cache.ts).
 */
export async function computeStats(
  db: Kysely<Database>,
  dialect: Dialect,
  tenantId: number,
  storageId: number,
  top = MAX_LARGEST_DIRS,
): Promise<StorageStats> {
  const table = await scanWholeTable(db, dialect, [storageId]);
  const storage = table ? sql`+storage_id` : sql`storage_id`;
  const { rows } = await sql<Group>`
    SELECT ${parentOfRow(dialect)} AS parent, is_dir, media_kind, count(*) AS n,
      CAST(sum(size) AS bigint) AS bytes
    FROM entries WHERE ${storage} = ${storageId} AND tenant_id = ${tenantId}
    GROUP BY ${parentOfRow(dialect)}, is_dir, media_kind`.execute(db);

  const out: StorageStats = { files: 0, dirs: 0, bytes: 0, byMediaKind: [], largestDirs: [] };
  const kinds = new Map<string | null, { files: number; bytes: number }>();
  const dirs = new Map<string, { files: number; bytes: number }>();
  for (const g of rows) {
    const n = Number(g.n);
    if (Number(g.is_dir) === 1) {
      out.dirs += n;
      continue;
    }
    const bytes = Number(g.bytes);
    out.files += n;
    out.bytes += bytes;
    add(kinds, g.media_kind, n, bytes);
    add(dirs, g.parent, n, bytes);
  }
  out.byMediaKind = [...kinds]
    .map(([mediaKind, v]) => ({ mediaKind, ...v }))
    .sort(
      (a, b) =>
        b.bytes - a.bytes ||
        b.files - a.files ||
        String(a.mediaKind).localeCompare(String(b.mediaKind)),
    );
  out.largestDirs = [...dirs]
    .map(([path, v]) => ({ path, ...v }))
    .sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1))
    .slice(0, top);
  return out;
}

function add<K>(
  map: Map<K, { files: number; bytes: number }>,
  key: K,
  files: number,
  bytes: number,
): void {
  const v = map.get(key);
  if (v) {
    v.files += files;
    v.bytes += bytes;
  } else map.set(key, { files, bytes });
}
