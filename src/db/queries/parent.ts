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
 * The children of `dir`, as a condition the children index serves. PostgreSQL's index keys
 * a directory by the hash of {@link PG_PARENT} (migrations 015, 018): the hash is the index
 * condition, and each row is confirmed as {@link pgChildOf} confirms it, so two directories
 * whose hashes collide are never mixed. SQLite's index holds the parent text.
 */
export function parentIs(dialect: Dialect, dir: string): RawBuilder<unknown> {
  if (dialect === 'sqlite') return sql`parent = ${dir}`;
  const d = sql`${dir}::text`;
  return sql`hashtextextended(${sql.raw(PG_PARENT)}, 0) = hashtextextended(${d}, 0)
    AND path = (CASE WHEN ${d} = '/' THEN '/' ELSE ${d} || '/' END) || name`;
}

/** The children of any of `dirs` (at least one), as {@link parentIs}. */
export function parentIn(dialect: Dialect, dirs: readonly string[]): RawBuilder<unknown> {
  if (dialect === 'sqlite') return sql`parent IN (${sql.join(dirs)})`;
  const p = sql.raw(PG_PARENT);
  return sql`hashtextextended(${p}, 0) = ANY(ARRAY[${sql.join(
    dirs.map((d) => sql`hashtextextended(${d}::text, 0)`),
  )}]) AND ${p} IN (${sql.join(dirs)})`;
}
