import { sql, type Kysely } from 'kysely';
import { joinPath, ROOT } from '../../storage/paths.js';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { QueryError } from './errors.js';
import { parentIn, parentOfRow } from './parent.js';
import type { DirTotals, DuQuery, KindTotals } from './types.js';
import { dirOf, idOf, mediaKindOf } from './validate.js';

/** Deeper listings are rows per directory of the whole tree: `trawl ls -r` does that. */
const MAX_DEPTH = 64;
/** Directories per `parent IN (…)` of the walk down to `depth`. */
const LEVEL_BATCH = 500;

interface Group {
  parent: string;
  n: number;
  d: number;
  b: number;
  [kindColumn: string]: string | number;
}

/**
 * Totals per directory, largest first (bytes, then files, then path bytewise): `dir` itself
 * and every directory down to `depth` levels below it, empty ones included.
 *
 * One pass over the subtree: one GROUP BY parent (the subtree's range of the path index;
 * SQLite sorts by the computed parent since 019, PostgreSQL hashes), media kinds as
 * conditional sums rather than a grouping column (that would make SQLite sort every row).
 * Each directory's own totals are then added to its ancestors here, so the rows held are
 * one per directory of the subtree, never one per entry.
 */
export async function du(db: Kysely<Database>, dialect: Dialect, q: DuQuery): Promise<DirTotals[]> {
  if (typeof q !== 'object' || q === null) {
    throw new QueryError('BAD_QUERY', 'query', 'expected an object');
  }
  const tenantId = idOf('tenantId', q.tenantId);
  const storageId = idOf('storageId', q.storageId);
  const dir = dirOf('dir', q.dir);
  const depth = q.depth ?? 1;
  if (!Number.isSafeInteger(depth) || depth < 0 || depth > MAX_DEPTH) {
    throw new QueryError('BAD_QUERY', 'depth', `expected an integer from 0 to ${MAX_DEPTH}`);
  }
  const kinds = [...new Set((q.kinds ?? []).map((k) => mediaKindOf(k)!))];

  const totals = new Map<string, DirTotals>();
  const blank = (path: string): DirTotals => ({
    path,
    dirs: 0,
    files: 0,
    bytes: 0,
    kinds: Object.fromEntries([...kinds, 'other'].map((k) => [k, { files: 0, bytes: 0 }])),
  });
  totals.set(dir, blank(dir));
  for (const path of await dirsDown(db, dialect, { tenantId, storageId }, dir, depth)) {
    totals.set(path, blank(path));
  }

  // `tenant_id + 0`: tested on each row, never an index's key. As a key it made SQLite read
  // the storage through its (storage, tenant, path) index instead of one by parent.
  const scope = sql`storage_id = ${storageId} AND tenant_id + 0 = ${tenantId}`;
  // The entries below dir are the paths in [dir/, dir0), one range of the (storage_id,
  // path) index on both dialects. SQLite read a range of parent texts from its children
  // index before 019; that index keys the parent's id now, no range.
  const below = dir === ROOT ? sql`1 = 1` : sql`path >= ${`${dir}/`} AND path < ${`${dir}0`}`;
  const kindSums = kinds.map(
    (k, i) => sql`,
      sum(CASE WHEN is_dir = 0 AND media_kind = ${k} THEN 1 ELSE 0 END) AS ${sql.ref(`n${i}`)},
      sum(CASE WHEN is_dir = 0 AND media_kind = ${k} THEN size ELSE 0 END) AS ${sql.ref(`b${i}`)}`,
  );
  const { rows } = await sql<Group>`
    SELECT ${parentOfRow(dialect)} AS parent, sum(1 - is_dir) AS n, sum(is_dir) AS d,
      sum(CASE WHEN is_dir = 0 THEN size ELSE 0 END) AS b${sql.join(kindSums, sql``)}
    FROM entries WHERE ${scope} AND ${below}
    GROUP BY ${parentOfRow(dialect)}`.execute(db);

  for (const g of rows) {
    const n = Number(g.n);
    const bytes = Number(g.b);
    const per = kinds.map((_, i) => ({ files: Number(g[`n${i}`]), bytes: Number(g[`b${i}`]) }));
    const other = {
      files: n - per.reduce((s, x) => s + x.files, 0),
      bytes: bytes - per.reduce((s, x) => s + x.bytes, 0),
    };
    for (const path of ancestors(dir, g.parent, depth)) {
      const t = totals.get(path);
      if (!t) continue; // not a directory of the index (an orphan's parent): nowhere to add
      t.files += n;
      t.dirs += Number(g.d);
      t.bytes += bytes;
      kinds.forEach((k, i) => add(t.kinds[k]!, per[i]!));
      add(t.kinds.other!, other);
    }
  }
  return [...totals.values()].sort(
    (a, b) => b.bytes - a.bytes || b.files - a.files || (a.path < b.path ? -1 : 1),
  );
}

function add(to: KindTotals, from: KindTotals): void {
  to.files += from.files;
  to.bytes += from.bytes;
}

/** `parent` and its ancestors that are `dir` or at most `depth` levels below it. */
function ancestors(dir: string, parent: string, depth: number): string[] {
  const rest = parent === dir ? '' : parent.slice(dir === ROOT ? 1 : dir.length + 1);
  const parts = rest === '' ? [] : rest.split('/');
  const out = [dir];
  let path = dir;
  for (const part of parts.slice(0, depth)) {
    path = joinPath(path, part);
    out.push(path);
  }
  return out;
}

/** Every directory 1..`depth` levels below `dir`, a level at a time. */
async function dirsDown(
  db: Kysely<Database>,
  dialect: Dialect,
  scope: { tenantId: number; storageId: number },
  dir: string,
  depth: number,
): Promise<string[]> {
  const out: string[] = [];
  let level = [dir];
  for (let d = 0; d < depth && level.length > 0; d++) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += LEVEL_BATCH) {
      const parents = level.slice(i, i + LEVEL_BATCH);
      const { rows } = await sql<{ path: string }>`
        SELECT path FROM entries
        WHERE ${parentIn(dialect, scope.storageId, parents)}
          AND tenant_id + 0 = ${scope.tenantId} AND is_dir = 1`.execute(db);
      for (const r of rows) next.push(r.path);
    }
    out.push(...next);
    level = next;
  }
  return out;
}
