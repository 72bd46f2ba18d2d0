import { sql, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Position } from './cursor.js';
import type { EntryView, SortKey, SortOrder } from './types.js';

/** What the readers of a page share: its columns, its order and where a cursor resumes. */

export interface Ordering {
  sort: SortKey;
  order: SortOrder;
}

export interface PageRead {
  items: EntryView[];
  /** Where the next page starts, or null at the end. */
  next: Position | null;
}

export interface Row {
  id: number;
  storage_id: number;
  path: string;
  name: string;
  is_dir: number;
  size: number;
  mtime: number;
  media_kind: string | null;
}

type Condition = RawBuilder<unknown>;

export const COLUMNS = sql.raw('id, storage_id, path, name, is_dir, size, mtime, media_kind');

/** The sort key as the indexes hold it: names bytewise in both dialects. */
export function sortKey(dialect: Dialect, sort: SortKey): Condition {
  if (sort === 'name') return dialect === 'postgres' ? sql`name COLLATE "C"` : sql`name`;
  return sql.ref(sort);
}

export function orderBy(dialect: Dialect, o: Ordering): Condition {
  const dir = sql.raw(o.order === 'asc' ? 'ASC' : 'DESC');
  return sql`${sortKey(dialect, o.sort)} ${dir}, id ${dir}`;
}

/** Rows strictly after `p` in `o`'s order, written so an index range serves it. */
export function after(dialect: Dialect, o: Ordering, p: Position): Condition {
  const k = sortKey(dialect, o.sort);
  return o.order === 'asc'
    ? sql`${k} >= ${p.key} AND (${k} > ${p.key} OR id > ${p.id})`
    : sql`${k} <= ${p.key} AND (${k} < ${p.key} OR id < ${p.id})`;
}

/** The first `limit` rows as a page; a row beyond them says there is a next page. */
export function pageOf(rows: Row[], o: Ordering, limit: number): PageRead {
  const items = rows.slice(0, limit).map(view);
  const last = items.at(-1);
  return {
    items,
    next: rows.length > limit && last ? { key: last[o.sort], id: last.id } : null,
  };
}

export function view(r: Row): EntryView {
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
