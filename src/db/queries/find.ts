import type { Kysely } from 'kysely';
import { subtreeRange } from '../../storage/paths.js';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { QueryError } from './errors.js';
import {
  FindReader,
  type FindColumns,
  type FindFilters,
  type FindReadOptions,
  type FoundRow,
  type RowArray,
} from './find-read.js';
import { compileGlob, type Glob } from './glob.js';
import type { EntryChunk, EntryView, FindQuery, FindSort, SortOrder } from './types.js';
import { booleanOf, dirOf, idOf, mediaKindOf, optionalInt, rangeOf } from './validate.js';

/**
 * Queries.find: the query checked and its globs compiled; the SQL gets every filter it can
 * test (a glob's plain text and the extensions as substrings), and the globs and extensions
 * are tested exactly here on what comes back (src/db/queries/find-read.ts reads it).
 */

const bad = (field: string, message: string) => new QueryError('BAD_QUERY', field, message);

/**
 * Every entry matching `q`. The query is checked now (a QueryError names the bad field);
 * the entries are read as they are iterated, a chunk at a time.
 */
export function find(
  db: Kysely<Database>,
  dialect: Dialect,
  q: FindQuery,
  options: FindReadOptions = {},
): AsyncIterable<EntryView> {
  const pages = findPages(db, dialect, q, options);
  return (async function* () {
    for await (const page of pages) yield* page;
  })();
}

/** {@link find}'s matches in the batches they are read in, none empty. */
export function findPages(
  db: Kysely<Database>,
  dialect: Dialect,
  q: FindQuery,
  options: FindReadOptions = {},
): AsyncIterable<EntryView[]> {
  const { rows, storageId } = matches(db, dialect, q, options, 'entry');
  return mapped(rows, (r) => viewArray(r as RowArray, storageId));
}

/**
 * {@link findPages}'s paths alone (`find -0`): on SQLite a walk of the storage then reads
 * its path index and no row.
 */
export function findPathPages(
  db: Kysely<Database>,
  dialect: Dialect,
  q: FindQuery,
  options: FindReadOptions = {},
): AsyncIterable<string[]> {
  return mapped(matches(db, dialect, q, options, 'path').rows, (r) => r as string);
}

/**
 * {@link findPathPages}'s paths as `find -0` writes them: each after `prefix`, ended by a
 * NUL, as UTF-8 bytes in chunks of whole paths. On PostgreSQL, when the SQL can test the
 * whole query (a name glob only when glob.ts finds an exact LIKE for it; no path glob, no
 * extension), one COPY, its bytes passed on undecoded (find-read.ts's `copyPaths`).
 */
export function findPathBytes(
  db: Kysely<Database>,
  dialect: Dialect,
  q: FindQuery,
  options: FindReadOptions & { prefix?: string } = {},
): AsyncIterable<Buffer> {
  const prefix = options.prefix ?? '';
  const plan = planOf(q, dialect);
  const reader = new FindReader(db, dialect, options);
  if (reader.copies && plan.copyable) {
    return reader.copyPaths(plan.copyFilters, plan.order, plan.limit, prefix);
  }
  const pages = matches(db, dialect, q, options, 'path').rows;
  return (async function* () {
    for await (const page of pages) {
      yield Buffer.from(`${prefix}${(page as string[]).join(`\0${prefix}`)}\0`);
    }
  })();
}

/**
 * {@link findPages}'s matches as chunks to walk an output over (`find`'s table and JSON). On
 * PostgreSQL, when the SQL can test the whole query (as for {@link findPathBytes}), one COPY
 * read from its bytes (find-read.ts's `copyEntries`); otherwise the rows read as arrays, no
 * entry object made for each.
 */
export function findEntryChunks(
  db: Kysely<Database>,
  dialect: Dialect,
  q: FindQuery,
  options: FindReadOptions = {},
): AsyncIterable<EntryChunk> {
  const plan = planOf(q, dialect);
  const reader = new FindReader(db, dialect, options);
  if (reader.copiesEntries && plan.copyable) {
    return reader.copyEntries(plan.copyFilters, plan.order, plan.limit);
  }
  const pages = matches(db, dialect, q, options, 'entry').rows;
  return (async function* () {
    for await (const page of pages) {
      yield {
        each(visit) {
          for (const row of page) {
            const r = row as RowArray;
            visit.path(
              r[1] as string,
              Number(r[2]) === 1,
              Number(r[3]),
              Number(r[4]),
              r[5] as string | null,
            );
          }
        },
      };
    }
  })();
}

async function* mapped<T>(
  pages: AsyncIterable<FoundRow[]>,
  f: (r: FoundRow) => T,
): AsyncIterable<T[]> {
  for await (const page of pages) yield page.map(f);
}

/** The matching rows of `columns` ({@link FoundRow}), in batches, none empty. Checks `q` at the call. */
function matches(
  db: Kysely<Database>,
  dialect: Dialect,
  q: FindQuery,
  options: FindReadOptions,
  columns: FindColumns,
): { rows: AsyncIterable<FoundRow[]>; storageId: number } {
  const plan = planOf(q, dialect);
  const reader = new FindReader(db, dialect, options);
  const accepts =
    columns === 'path'
      ? (r: FoundRow) => plan.accepts(r as string)
      : (r: FoundRow) => plan.accepts((r as RowArray)[1] as string);
  const rows = (async function* () {
    let left = plan.limit;
    if (left === 0) return;
    // With nothing left to test here, the database may stop at the limit (a top-N sort).
    const limit = plan.exact && Number.isFinite(left) ? left : undefined;
    const early = Number.isFinite(left) && limit === undefined;
    for await (const batch of reader.read(plan.filters, plan.order, columns, limit, early)) {
      const kept = plan.exact ? batch : batch.filter(accepts);
      if (kept.length >= left) {
        if (left > 0) yield kept.length === left ? kept : kept.slice(0, left);
        return;
      }
      left -= kept.length;
      if (kept.length > 0) yield kept;
    }
  })();
  return { rows, storageId: plan.filters.storageId };
}

/** An entry of storage `storageId` from {@link FindColumns} `entry`'s array. */
function viewArray(r: RowArray, storageId: number): EntryView {
  const path = r[1] as string;
  return {
    id: Number(r[0]),
    storageId,
    path,
    name: path.slice(path.lastIndexOf('/') + 1),
    isDir: Number(r[2]) === 1,
    size: Number(r[3]),
    mtime: Number(r[4]),
    mediaKind: r[5] as string | null,
  };
}

interface Plan {
  filters: FindFilters;
  order: { sort: FindSort; order: SortOrder };
  /** The exact test, on a match's path, of what SQL only narrowed (globs, extensions). */
  accepts(path: string): boolean;
  /** Whether SQL tests everything (`accepts` keeps every row). */
  exact: boolean;
  /**
   * Whether {@link copyFilters} alone test everything (PostgreSQL): `exact`, or a name glob
   * with an exact LIKE and no other glob nor extension.
   */
  copyable: boolean;
  copyFilters: FindFilters;
  limit: number;
}

function planOf(q: FindQuery, dialect: Dialect): Plan {
  if (typeof q !== 'object' || q === null) throw bad('query', 'expected an object');
  const caseSensitive = booleanOf('caseSensitive', q.caseSensitive) ?? false;
  const name =
    q.name === undefined ? undefined : compileGlob(q.name, { field: 'name', caseSensitive });
  const path =
    q.path === undefined
      ? undefined
      : compileGlob(q.path, { field: 'path', caseSensitive, path: true });
  const f: FindFilters = {
    tenantId: idOf('tenantId', q.tenantId),
    storageId: idOf('storageId', q.storageId),
    subtrees: [],
  };
  if (q.parent !== undefined) f.parent = dirOf('parent', q.parent);
  if (q.under !== undefined) f.subtrees.push(subtreeRange(dirOf('under', q.under)));
  if (path && path.dir !== '/') f.subtrees.push(subtreeRange(path.dir));
  const isDir = booleanOf('isDir', q.isDir);
  if (isDir !== undefined) f.isDir = isDir;
  if (q.mediaKinds !== undefined) f.mediaKinds = listOf('mediaKinds', q.mediaKinds, mediaKindOf);
  if (q.extensions !== undefined) f.extensions = listOf('extensions', q.extensions, extensionOf);
  const size = rangeOf('minSize', q.minSize, 'maxSize', q.maxSize, 0);
  if (size.from !== undefined) f.minSize = size.from;
  if (size.to !== undefined) f.maxSize = size.to;
  const from = optionalInt('mtimeFrom', q.mtimeFrom, Number.MIN_SAFE_INTEGER);
  const before = optionalInt('mtimeBefore', q.mtimeBefore, Number.MIN_SAFE_INTEGER);
  if (from !== undefined) f.mtimeFrom = from;
  if (before !== undefined) f.mtimeBefore = before;
  // The index narrows by the name glob's plain text, or by a path glob's last part when that
  // is plain text (`**/cover.jpg`); the glob itself is tested on what comes back.
  const needle = name?.literal || lastPart(path);
  if (needle) f.needle = needle;
  const like = [...(name ? [`%/${name.like}`] : []), ...(path ? [path.like] : [])];
  if (like.length > 0) f.pathLike = like;

  const sort = q.sort ?? 'path';
  if (!['path', 'name', 'size', 'mtime'].includes(sort)) {
    throw bad('sort', `expected path, name, size or mtime, got ${JSON.stringify(sort)}`);
  }
  const order = q.order ?? 'asc';
  if (order !== 'asc' && order !== 'desc') {
    throw bad('order', `expected asc or desc, got ${JSON.stringify(order)}`);
  }
  const limit = optionalInt('limit', q.limit, 0) ?? Infinity;
  const ext = f.extensions?.map((e) => `.${e}`);
  const nameExact = name?.exactLike;
  // SQLite tests `%/` and the name's LIKE on the path (#conditions in find-read.ts). When
  // that LIKE is exact and a plain ending (`*.jpg`: `%.jpg`, no other wildcard), the path
  // ends with it exactly when the name does (the ending has no `/`), and LIKE folds ASCII
  // alone as the exact LIKE assumes: nothing is left to test here (276,300 regex tests
  // of `*.jpg`'s names, ~50 ms of CPU). Not for `-s`: SQLite's LIKE ignores case.
  const endsExactly =
    dialect === 'sqlite' &&
    !caseSensitive &&
    !path &&
    !ext &&
    nameExact !== undefined &&
    /^%(?:[^%_\\]|\\[\s\S])*$/.test(nameExact);
  const exact = (!name && !path && !ext) || endsExactly;
  const copyable = (!name && !path && !ext) || (!path && !ext && nameExact !== undefined);
  return {
    filters: f,
    order: { sort, order },
    limit,
    exact,
    copyable,
    copyFilters:
      nameExact === undefined || (!name && !path && !ext)
        ? f
        : { ...f, nameExact: { like: nameExact, caseSensitive } },
    accepts: (p) => {
      const base = p.slice(p.lastIndexOf('/') + 1);
      return (
        (!name || name.test(base)) && (!path || path.test(p)) && (!ext || hasExtension(base, ext))
      );
    },
  };
}

/** The plain text of a path glob after its last `/`, when that part has no wildcard. */
function lastPart(glob: Glob | undefined): string | undefined {
  if (!glob) return undefined;
  const cut = glob.pattern.lastIndexOf('/');
  const tail = glob.pattern.slice(cut + 1);
  return /[*?[\\]/.test(tail) || tail === '' ? undefined : tail;
}

function hasExtension(name: string, suffixes: readonly string[]): boolean {
  const lower = name.toLowerCase();
  // `.mkv` alone is a hidden file's name, not an extension (as src/scan/media.ts reads it).
  return suffixes.some((s) => lower.length > s.length && lower.endsWith(s));
}

function extensionOf(value: unknown): string {
  const text = typeof value === 'string' ? value.replace(/^\./, '').toLowerCase() : '';
  if (text === '' || text.includes('/') || /\s/.test(text) || text.startsWith('.')) {
    throw bad('extensions', `expected an extension such as mkv, got ${JSON.stringify(value)}`);
  }
  return text;
}

function listOf<T>(field: string, value: unknown, item: (v: unknown) => T | undefined): T[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw bad(field, 'expected a non-empty list');
  }
  return [
    ...new Set(
      value.map((v) => {
        const out = item(v);
        if (out === undefined) throw bad(field, `expected a value, got ${JSON.stringify(v)}`);
        return out;
      }),
    ),
  ];
}
