import { sql, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * The children of `dir`, as a condition the children index serves. PostgreSQL's index keys
 * a directory by `hashtextextended(parent, 0)` (migration 015): the hash is the index
 * condition, and `parent` itself is tested on the row, so two directories whose hashes
 * collide are never mixed. SQLite's index holds the parent text.
 */
export function parentIs(dialect: Dialect, dir: string): RawBuilder<unknown> {
  if (dialect === 'sqlite') return sql`parent = ${dir}`;
  return sql`hashtextextended(parent, 0) = hashtextextended(${dir}::text, 0) AND parent = ${dir}`;
}

/** The children of any of `dirs` (at least one), as {@link parentIs}. */
export function parentIn(dialect: Dialect, dirs: readonly string[]): RawBuilder<unknown> {
  if (dialect === 'sqlite') return sql`parent IN (${sql.join(dirs)})`;
  return sql`hashtextextended(parent, 0) = ANY(ARRAY[${sql.join(
    dirs.map((d) => sql`hashtextextended(${d}::text, 0)`),
  )}]) AND parent IN (${sql.join(dirs)})`;
}
