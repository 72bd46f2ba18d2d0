import { sql, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * PostgreSQL's parent of a row, computed from the row's path and name: the path up to the
 * `/` before its name, `/` for an entry at the root (a path is always its parent, `/` and
 * its name: the engine refuses any listing where it is not, scan/listing.ts). The table has
 * no `parent` column since migration 018; the children index keys this expression's hash,
 * so every statement must spell it exactly so for the planner to match the index.
 */
export const PG_PARENT = 'left(path, greatest(1, length(path) - length(name) - 1))';

/**
 * SQL text: the row is a child of the directory `dir` (an SQL expression), as the children
 * index finds it — the hash of {@link PG_PARENT} is the index condition — and as the row
 * confirms it, so that two directories whose hashes collide never mix. The confirmation is
 * evaluated on every row the index returns, so it avoids {@link PG_PARENT}'s character
 * counts: the path is `dir/` and the name (a path being its parent, `/` and its name, that
 * holds for its children only). Not `starts_with`: given a constant, PostgreSQL turns it into
 * a range of the unique path index, which holds the whole subtree. The CHILDREN statement
 * (50 directories, 4,950 rows, docs/index-database.md): 4.3–4.4 ms with this, 4.8–5.1 with
 * `PG_PARENT = dir`, 3.9 when 015 read a stored parent.
 */
export function pgChildOf(dir: string): string {
  return `hashtextextended(${PG_PARENT}, 0) = hashtextextended(${dir}, 0)
    AND path = (CASE WHEN ${dir} = '/' THEN '/' ELSE ${dir} || '/' END) || name`;
}

/**
 * The parent of a row as a value to select, group or test: SQLite's computed column (007),
 * PostgreSQL's {@link PG_PARENT}.
 */
export function parentOfRow(dialect: Dialect): RawBuilder<string> {
  return dialect === 'sqlite' ? sql<string>`parent` : sql<string>`${sql.raw(PG_PARENT)}`;
}

/**
 * SQLite's children of `dir` (migration 019): the rows keyed by the id of the directory's row,
 * read by the unique (storage_id, path) index, or by `-storageId` at the root, which has no
 * row.
 *
 * A path without a directory's row (none, or a file's) gives NULL, the key of every
 * _orphan_: a row written while its parent path had no directory's row (a scan of roots below
 * `/`, as `trawl watch` scans, never writes its root's row; a watch may write a child before
 * its directory). The writer keeps each row's `parent_id` its directory's id or NULL,
 * whatever the order of the writes (entry-writer.ts, `settle`), so a directory with a row
 * has no orphans, and a path without one has no child keyed by an id. Under the NULL key a
 * row is confirmed as this directory's child by its storage and path (`dir/` and its name: a
 * path is its parent, `/` and its name); any other row stops the test at `NOTNULL`. `IS`,
 * not `OR` with the orphans' partial index: one equality on the children index keeps its
 * order (a directory by name is read a page at a time); with `OR`, SQLite reads both and
 * sorts every child (test/db.sqlite-plans.test.ts). The NULL key holds the orphans of every
 * storage: none as a whole scan leaves the index.
 */
function sqliteChildOf(storageId: number, dir: string): RawBuilder<unknown> {
  if (dir === '/') return sqliteChildrenKey(storageId, dir);
  return sql`${sqliteChildrenKey(storageId, dir)}
    AND (parent_id NOTNULL OR (+storage_id = ${storageId} AND path = ${`${dir}/`} || name))`;
}

/**
 * SQLite: the children index's key of `dir` alone, without the orphans' confirmation, to
 * count by: the children index answers it alone (with the confirmation, each row is also
 * tested, +0.5 ms a count of 20,000 children, measured). An upper bound: for a directory
 * without a directory's row it counts the orphans of every storage, none as a whole scan
 * leaves the index.
 */
export function sqliteChildrenKey(storageId: number, dir: string): RawBuilder<unknown> {
  if (dir === '/') return sql`parent_id = ${-storageId}`;
  return sql`parent_id IS (SELECT id FROM entries
      WHERE storage_id = ${storageId} AND path = ${dir} AND is_dir = 1)`;
}

/**
 * The children of `dir` in storage `storageId`, as a condition the children index serves.
 * SQLite's index keys the directory's row id (019), which implies the storage: the
 * condition is `parent_id` (and, for an orphan, its own path; see sqliteChildOf), and a
 * caller's own `storage_id = …` term must not be an index's key beside it
 * ({@link storageTerm}). PostgreSQL's index keys a directory by the
 * hash of {@link PG_PARENT} (migrations 015, 018): the hash is the index condition, and
 * each row is confirmed as {@link pgChildOf} confirms it, so two directories whose hashes
 * collide are never mixed.
 */
export function parentIs(dialect: Dialect, storageId: number, dir: string): RawBuilder<unknown> {
  if (dialect === 'sqlite') return sqliteChildOf(storageId, dir);
  const d = sql`${dir}::text`;
  return sql`hashtextextended(${sql.raw(PG_PARENT)}, 0) = hashtextextended(${d}, 0)
    AND path = (CASE WHEN ${d} = '/' THEN '/' ELSE ${d} || '/' END) || name`;
}

/**
 * `storage_id = storageId` beside {@link parentIs}: on SQLite with the unary `+`, so that
 * the planner never reads the storage's unique path index for it instead of the children
 * index (both are an equality on one column of an index to SQLite without statistics).
 */
export function storageTerm(dialect: Dialect, storageId: number): RawBuilder<unknown> {
  return dialect === 'sqlite' ? sql`+storage_id = ${storageId}` : sql`storage_id = ${storageId}`;
}

/**
 * {@link parentIs} with the storage: a source that an index answers alone. SQLite's key
 * implies the storage, and a `storage_id` term there would send every row's count to the
 * table (a count reads the children index alone, by {@link sqliteChildrenKey}).
 */
export function childrenOf(dialect: Dialect, storageId: number, dir: string): RawBuilder<unknown> {
  const children = parentIs(dialect, storageId, dir);
  return dialect === 'sqlite' ? children : sql`storage_id = ${storageId} AND ${children}`;
}

/**
 * The children of any of `dirs` (at least one) in storage `storageId`, storage included, as
 * {@link childrenOf}.
 */
export function parentIn(
  dialect: Dialect,
  storageId: number,
  dirs: readonly string[],
): RawBuilder<unknown> {
  if (dialect === 'sqlite') {
    const rows = dirs.filter((d) => d !== '/');
    const ids: RawBuilder<unknown>[] = [];
    if (rows.length > 0) {
      ids.push(sql`SELECT id FROM entries WHERE storage_id = ${storageId}
        AND path IN (${sql.join(rows)}) AND is_dir = 1`);
    }
    if (rows.length < dirs.length) ids.push(sql`SELECT ${-storageId}`);
    const keyed = sql`parent_id IN (${sql.join(ids, sql` UNION ALL `)})`;
    if (rows.length === 0) return keyed;
    // And the orphans of those without a row (see sqliteChildOf), through their partial
    // index (entries_orphans): no order to keep here, so a second index under `OR`.
    return sql`(${keyed} OR (parent_id IS NULL AND storage_id = ${storageId}
      AND +parent IN (${sql.join(rows)})))`;
  }
  const p = sql.raw(PG_PARENT);
  return sql`storage_id = ${storageId} AND hashtextextended(${p}, 0) = ANY(ARRAY[${sql.join(
    dirs.map((d) => sql`hashtextextended(${d}::text, 0)`),
  )}]) AND ${p} IN (${sql.join(dirs)})`;
}
