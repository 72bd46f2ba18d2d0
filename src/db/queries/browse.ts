import {
  decodeCursor,
  encodeCursor,
  queryDigest,
  type CursorScope,
  type Position,
} from './cursor.js';
import { QueryError } from './errors.js';
import type { Filters } from './filters.js';
import type { PageReader } from './plan.js';
import type { BrowseQuery, EntryView, Page } from './types.js';
import { dirOf, idOf, limitOf, orderOf, sortOf } from './validate.js';

/**
 * Queries.browse: directories first, then files — what a file browser shows — whatever
 * the order asked. Two groups read one after the other; the cursor says which group it
 * is in, and a page that ends the directories continues with the files.
 */
export async function browse(reader: PageReader, q: BrowseQuery): Promise<Page<EntryView>> {
  if (typeof q !== 'object' || q === null)
    throw new QueryError('BAD_QUERY', 'query', 'expected an object');
  const base: Filters = {
    tenantId: idOf('tenantId', q.tenantId),
    storageId: idOf('storageId', q.storageId),
    parent: dirOf('dir', q.dir),
  };
  const scope: CursorScope = {
    kind: 'browse',
    sort: sortOf(q.sort),
    order: orderOf(q.order),
    query: queryDigest(base),
  };
  const limit = limitOf(q.limit);
  const at =
    q.cursor === undefined || q.cursor === null ? undefined : decodeCursor(q.cursor, scope);
  const cursor = (p: Position) => encodeCursor(scope, p);

  const items: EntryView[] = [];
  let dirs = at?.dirs ?? 1;
  let after: Position | undefined = at;
  for (;;) {
    const page = await reader.read(
      { ...base, isDir: dirs === 1 },
      scope,
      limit - items.length,
      after,
    );
    items.push(...page.items);
    if (page.next) return { items, next: cursor({ ...page.next, dirs }) };
    if (dirs === 0) return { items, next: null };
    dirs = 0;
    after = undefined;
    if (items.length === limit) break;
  }
  // The directories filled the page exactly: a next page only if some file follows.
  const file = await reader.read({ ...base, isDir: false }, scope, 1);
  const start: Position = { key: scope.sort === 'name' ? '' : 0, id: 0, dirs: 0 };
  return { items, next: file.items.length > 0 ? cursor(start) : null };
}
