import { decodeCursor, encodeCursor, queryDigest, type CursorScope } from './cursor.js';
import { QueryError } from './errors.js';
import type { Filters } from './filters.js';
import type { PageReader } from './plan.js';
import type { EntryView, Page, SearchQuery } from './types.js';
import {
  booleanOf,
  idOf,
  limitOf,
  mediaKindOf,
  needleOf,
  optionalInt,
  orderOf,
  rangeOf,
  sortOf,
  subtreeOf,
} from './validate.js';

/** Queries.search: every filter given, in the order asked. */
export async function search(reader: PageReader, q: SearchQuery): Promise<Page<EntryView>> {
  if (typeof q !== 'object' || q === null)
    throw new QueryError('BAD_QUERY', 'query', 'expected an object');
  const size = rangeOf('minSize', q.minSize, 'maxSize', q.maxSize, 0);
  const mtime = rangeOf('mtimeFrom', q.mtimeFrom, 'mtimeTo', q.mtimeTo, Number.MIN_SAFE_INTEGER);
  const filters: Filters = { tenantId: idOf('tenantId', q.tenantId) };
  const storageId = optionalInt('storageId', q.storageId, 1);
  if (storageId !== undefined) filters.storageId = storageId;
  const subtree = subtreeOf(q.pathPrefix);
  if (subtree) filters.subtree = subtree;
  const needle = needleOf(q.name);
  if (needle !== undefined) filters.needle = needle;
  const mediaKind = mediaKindOf(q.mediaKind);
  if (mediaKind !== undefined) filters.mediaKind = mediaKind;
  const isDir = booleanOf('isDir', q.isDir);
  if (isDir !== undefined) filters.isDir = isDir;
  if (size.from !== undefined) filters.minSize = size.from;
  if (size.to !== undefined) filters.maxSize = size.to;
  if (mtime.from !== undefined) filters.mtimeFrom = mtime.from;
  if (mtime.to !== undefined) filters.mtimeTo = mtime.to;

  const scope: CursorScope = {
    kind: 'search',
    sort: sortOf(q.sort),
    order: orderOf(q.order),
    query: queryDigest(filters),
  };
  const limit = limitOf(q.limit);
  const after =
    q.cursor === undefined || q.cursor === null ? undefined : decodeCursor(q.cursor, scope);
  const page = await reader.read(filters, scope, limit, after);
  return { items: page.items, next: page.next && encodeCursor(scope, page.next) };
}
