/**
 * Every statement of the PostgreSQL entries repository. Parameters are whole columns as
 * arrays where a statement handles many rows, so none comes near the 65,535-parameter
 * limit. Rows come back as arrays (`rowMode: 'array'`) in the order of `COLUMNS`.
 */

import { LIST_PAGE } from '../entries.js';
import { pgChildOf } from '../queries/parent.js';

export const COLUMNS = 'id, path, is_dir, size, mtime, etag, media_kind';

/**
 * A text column as one field of a packed line: backslash, tab and newline escaped. Three
 * `replace` calls cost a third of the CHILDREN statement's server time; almost no path or
 * etag holds any of the three characters, and three `strpos` tests that find none are
 * cheaper (measured: 4.2 → 3.4 ms a 5,000-entry batch). A NULL fails the test and stays NULL.
 */
const packed = (column: string) =>
  `CASE WHEN strpos(${column}, E'\\\\') + strpos(${column}, E'\\t') + strpos(${column}, E'\\n') = 0
    THEN ${column}
    ELSE replace(replace(replace(${column}, E'\\\\', E'\\\\\\\\'), E'\\t', E'\\\\t'), E'\\n', E'\\\\n') END`;

/**
 * Children of every directory of a batch in one round trip, packed: one row per directory,
 * its children as one text of lines `id \t is_dir \t size \t mtime \t media_kind \t etag \t
 * path` (text fields escaped as COPY escapes them, NULL as `\N`; read by `unpackChildren`).
 * A few dozen rows and strings to decode instead of thousands of rows of seven fields, which
 * is where an unchanged rescan's reads spent their time on the client. Each directory is
 * its own scan of the (storage_id, parent, …) index, aggregated as it is read: a `GROUP BY
 * parent` over the whole batch sorted its 5,000 rows first (a fifth of the statement's time,
 * `EXPLAIN ANALYZE`). A directory with no children comes back with NULL. Inputs: $1
 * storage, $2 tenant, $3 text[] of directories. Output: array rows [directory, lines | null].
 */
export const CHILDREN = `SELECT d, (SELECT string_agg(concat_ws(E'\\t', id, is_dir, size, mtime,
      coalesce(media_kind, E'\\\\N'), coalesce(${packed('etag')}, E'\\\\N'), ${packed('path')}), E'\\n')
    FROM entries WHERE storage_id = $1 AND tenant_id = $2
      AND ${pgChildOf('d')})
  FROM unnest($3::text[]) AS d`;

/** One batch's change event. Inputs: tenant, storage, scan, created/updated/deleted (JSON), time. */
export const OUTBOX = `INSERT INTO change_events
  (tenant_id, storage_id, scan_id, created, updated, deleted, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`;

/**
 * A storage's fence, locked until commit. Output: one row, the fence. Without parameters
 * (the id written in), so that it can go with BEGIN in one simple-protocol message.
 */
export const fenceOf = (storageId: number) =>
  `SELECT fence FROM storages WHERE id = ${sqlInteger(storageId)} FOR SHARE`;

/**
 * The rows at exact paths (one page of a huge directory). Inputs: $1 storage, $2 tenant,
 * $3 text[] of paths. Output: one array row per path indexed.
 */
export const AT_PATHS = `SELECT ${COLUMNS} FROM entries
  WHERE storage_id = $1 AND tenant_id = $2 AND path = ANY($3::text[])`;

/**
 * Every insert and update of a batch in one statement. Inputs: $1 tenant, $2 storage,
 * $3–$9 one array per column (no parent: computed from path and name since migration 018),
 * sorted by path so that overlapping scans lock rows in the same order. A conflicting row is rewritten only when a value differs, so an unchanged
 * rescan writes nothing; `xmax = 0` holds exactly for the rows this statement inserted.
 */
export const UPSERT = `INSERT INTO entries AS e
    (tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind)
  SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::int2[], $6::int8[], $7::int8[],
      $8::text[], $9::text[]) AS u
  ON CONFLICT (storage_id, path) DO UPDATE SET
    is_dir = excluded.is_dir, size = excluded.size, mtime = excluded.mtime,
    etag = excluded.etag, media_kind = excluded.media_kind
  WHERE (e.is_dir, e.size, e.mtime, e.etag, e.media_kind)
    IS DISTINCT FROM (excluded.is_dir, excluded.size, excluded.mtime, excluded.etag, excluded.media_kind)
  RETURNING e.id, e.is_dir, (e.xmax = 0)`;

/**
 * Vanished entries and subtrees in one statement. Inputs: $1 storage, $2 tenant, $3 text[]
 * of exact paths, $4/$5 text[] of [lower, upper) subtree ranges, each one scan of the
 * unique index. Output: id and is_dir of every deleted row.
 */
export const DELETE = `WITH exact AS (
    DELETE FROM entries WHERE storage_id = $1 AND tenant_id = $2 AND path = ANY($3::text[])
    RETURNING id, is_dir),
  subtrees AS (
    DELETE FROM entries AS e USING unnest($4::text[], $5::text[]) AS r(lower, upper)
    WHERE e.storage_id = $1 AND e.tenant_id = $2 AND e.path >= r.lower AND e.path < r.upper
    RETURNING e.id, e.is_dir)
  SELECT id, is_dir FROM exact UNION ALL SELECT id, is_dir FROM subtrees`;

/** Ids for the rows a COPY brings in, so that they can be reported as created (no parameters). */
export const nextIds = (count: number) =>
  `SELECT nextval('entries_id_seq') FROM generate_series(1, ${sqlInteger(count)})`;

/** An integer written into a statement's text (ids and counts, never user input). */
function sqlInteger(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`not an integer: ${n}`);
  return String(n);
}

export const COPY = `COPY entries (id, tenant_id, storage_id, path, name, is_dir, size, mtime, etag,
  media_kind) FROM STDIN`;

/** Files and directories in a [lower, upper) range. */
export const COUNT_SUBTREE = `SELECT count(*) FILTER (WHERE is_dir = 0), count(*) FILTER (WHERE is_dir = 1)
  FROM entries WHERE storage_id = $1 AND tenant_id = $2 AND path >= $3 AND path < $4`;

/** One keyset page of a directory's children, after path $4. */
export const LIST_CHILDREN = `SELECT ${COLUMNS} FROM entries
  WHERE storage_id = $1 AND tenant_id = $2
    AND ${pgChildOf('$3::text')}
    AND path > $4 ORDER BY path LIMIT ${LIST_PAGE}`;

/** One keyset page of a subtree, after path $3 and before $4. */
export const LIST_SUBTREE = `SELECT ${COLUMNS} FROM entries
  WHERE storage_id = $1 AND tenant_id = $2 AND path > $3 AND path < $4 ORDER BY path LIMIT ${LIST_PAGE}`;
