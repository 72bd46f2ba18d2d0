/**
 * The read side of the index: browse a directory, search, stats. Every call is scoped to
 * one tenant (`tenantId` is required and every statement filters on it): another tenant's
 * storage id gives an empty page, never its entries.
 *
 * Pages are keyset pages: `next` is an opaque cursor (the position of the page's last
 * entry in the query's order), to be passed back with the same query for the following
 * page; `null` when there is nothing after. Every page but the last holds `limit` entries.
 * An entry added or removed between two pages moves no other entry across the cursor.
 */

export type SortKey = 'name' | 'size' | 'mtime';
export type SortOrder = 'asc' | 'desc';

export interface EntryView {
  id: number;
  storageId: number;
  path: string;
  name: string;
  isDir: boolean;
  size: number;
  /** Epoch milliseconds. */
  mtime: number;
  mediaKind: string | null;
}

export interface Page<T> {
  items: T[];
  /** Opaque; pass it back as `cursor` with the same query. null: nothing after this page. */
  next: string | null;
}

interface PageQuery {
  /** @default 'name' (bytewise, as paths sort), ties broken by id */
  sort?: SortKey;
  /** @default 'asc' */
  order?: SortOrder;
  /** Entries per page, clamped to 1..1000. @default 100 */
  limit?: number;
  /** A page's `next`; refused (QueryError BAD_CURSOR) when made for another sort or order. */
  cursor?: string;
}

export interface BrowseQuery extends PageQuery {
  tenantId: number;
  storageId: number;
  /** The directory whose children are listed (`/` is the storage's root). */
  dir: string;
}

export interface SearchQuery extends PageQuery {
  tenantId: number;
  /** Only this storage; all the tenant's storages when absent. */
  storageId?: number;
  /** A substring of the name, case-insensitive; `%`, `_` and `\` are plain characters. */
  name?: string;
  /** Only entries below this directory (its subtree, not the directory itself). */
  pathPrefix?: string;
  /** `image`, `video`, `audio`, `subtitle` (src/scan/media.ts). */
  mediaKind?: string;
  isDir?: boolean;
  /** Bytes, inclusive. */
  minSize?: number;
  maxSize?: number;
  /** Epoch milliseconds, inclusive. */
  mtimeFrom?: number;
  mtimeTo?: number;
}

export interface StatsQuery {
  tenantId: number;
  storageId: number;
  /** How many of the largest directories to list, 0..100. @default 10 */
  largestDirs?: number;
}

export interface StorageStats {
  files: number;
  dirs: number;
  /** Bytes of files. */
  bytes: number;
  /** Files by media kind (null: none), most bytes first. */
  byMediaKind: { mediaKind: string | null; files: number; bytes: number }[];
  /** Directories by the bytes of the files directly in them, most first. */
  largestDirs: { path: string; files: number; bytes: number }[];
}

/** `find`'s orders: the path (bytewise, so a directory's entries come together) or a key. */
export type FindSort = 'path' | SortKey;

/**
 * `find` over one storage's entries: every filter given, every match, in order. Globs
 * (`name`, `path`): `*` and `?` within a directory, `**` across, `[a-z]` classes, `\x` plain
 * (src/db/queries/glob.ts).
 */
export interface FindQuery {
  tenantId: number;
  storageId: number;
  /** Only the children of this directory. */
  parent?: string;
  /** Only entries below this directory (its subtree, not itself). */
  under?: string;
  /** A glob the whole name matches. */
  name?: string;
  /** A glob the whole path matches; one not starting with `/` or `**` is taken from the root. */
  path?: string;
  /** Globs match letters of either case unless true. @default false */
  caseSensitive?: boolean;
  /** Names ending in `.` and one of these (any case; `tar.gz` works too). */
  extensions?: readonly string[];
  /** `media_kind` is one of these (src/scan/media.ts). */
  mediaKinds?: readonly string[];
  isDir?: boolean;
  /** Bytes, inclusive. */
  minSize?: number;
  maxSize?: number;
  /** Epoch ms: modified at or after. */
  mtimeFrom?: number;
  /** Epoch ms: modified strictly before. */
  mtimeBefore?: number;
  /** @default 'path' */
  sort?: FindSort;
  /** @default 'asc' */
  order?: SortOrder;
  /** At most this many. @default all */
  limit?: number;
}

/** `du`: the totals of a directory's subtree and of each directory down to `depth` below it. */
export interface DuQuery {
  tenantId: number;
  storageId: number;
  /** The directory totalled (`/` is the storage's root). */
  dir: string;
  /** Directory levels listed below `dir`: 0 is `dir` alone, 1 adds its subdirectories… @default 1 */
  depth?: number;
  /**
   * Media kinds totalled apart (the scan's kinds, src/scan/media.ts); files of any other
   * kind, or of none, are totalled as `other`. @default none
   */
  kinds?: readonly string[];
}

export interface KindTotals {
  files: number;
  bytes: number;
}

export interface DirTotals {
  path: string;
  /** Directories below it (not counting itself). */
  dirs: number;
  files: number;
  /** Bytes of its files, at any depth. */
  bytes: number;
  /** Files and bytes per kind asked for, and `other`; every key present. */
  kinds: Record<string, KindTotals>;
}

export interface Queries {
  /**
   * The children of `dir`, directories first (in either order), then files, each group in
   * the requested order. A `dir` that holds nothing, or is not a directory, gives an empty page.
   */
  browse(q: BrowseQuery): Promise<Page<EntryView>>;
  /** Entries matching every filter given, in the requested order. */
  search(q: SearchQuery): Promise<Page<EntryView>>;
  /**
   * Totals of one storage, computed from the index in one pass and kept until its entries
   * change (src/db/queries/stats-cache.ts).
   */
  stats(q: StatsQuery): Promise<StorageStats>;
  /**
   * Every entry of one storage matching `q`, in order, read a bounded chunk at a time as
   * it is iterated (`trawl find`, `trawl ls`). The query is checked at the call.
   */
  find(q: FindQuery, options?: FindBounds): AsyncIterable<EntryView>;
  /**
   * {@link find}'s matches in the batches they are read in (a few thousand at most): a
   * caller that writes a million lines saves an asynchronous step per entry.
   */
  findPages(q: FindQuery, options?: FindBounds): AsyncIterable<EntryView[]>;
  /** {@link findPages}'s paths alone (`find -0`): what the path index answers with no row read. */
  findPathPages(q: FindQuery, options?: FindBounds): AsyncIterable<string[]>;
  /**
   * {@link findPathPages}'s paths as `find -0` prints them: each one's UTF-8 bytes after
   * `prefix` and ended by a NUL, in chunks of whole paths. On PostgreSQL, when the SQL tests
   * the whole query (no glob it cannot match exactly: glob.ts's `exactLike`), one COPY whose
   * bytes are passed on undecoded; otherwise {@link findPathPages} encoded.
   */
  findPathBytes(q: FindQuery, options?: FindBounds & { prefix?: string }): AsyncIterable<Buffer>;
  /**
   * {@link findPages}'s matches as chunks an {@link EntryVisitor} is walked over (`find`'s
   * table and JSON lines). On PostgreSQL, when the SQL tests the whole query (as for
   * {@link findPathBytes}), one COPY whose rows are read from its bytes, no string made for
   * a path that needs no escaping; otherwise {@link findPages}'s entries.
   */
  findEntryChunks(q: FindQuery, options?: FindBounds): AsyncIterable<EntryChunk>;
  /** Subtree totals of a directory and of its directories down to a depth (`trawl du`). */
  du(q: DuQuery): Promise<DirTotals[]>;
}

/** Some matches of {@link Queries.findEntryChunks}, in order: `visit` is called once per entry. */
export interface EntryChunk {
  each(visit: EntryVisitor): void;
}

/** What an output is handed per entry by {@link EntryChunk.each}: the path as text, or as bytes. */
export interface EntryVisitor {
  path(path: string, isDir: boolean, size: number, mtime: number, mediaKind: string | null): void;
  /**
   * An entry whose path is `bytes[start, end)`: valid UTF-8 holding no byte below 0x20, no
   * 0x7f, `"` nor `\` (nothing a table or a JSON string escapes), so printed as it is.
   */
  plainPath(
    bytes: Buffer,
    start: number,
    end: number,
    isDir: boolean,
    size: number,
    mtime: number,
    mediaKind: string | null,
  ): void;
}

/** How much `find` reads per statement (src/db/queries/find-read.ts); tests set them small. */
export interface FindBounds {
  /** A source with at most this many rows is read in one statement, whole. @default 20,000 */
  probeRows?: number;
  /**
   * A source with at most this many rows is streamed, sorted, rather than the storage
   * walked. Measured on SQLite at 1,000,000 entries: 0.27 s against 0.72 s for the walk with
   * 90,000 matches, even at 276,000 (bench/find.ts's tree).
   * @default 250,000
   */
  streamRows?: number;
  /** Matches per page of a walk by path (SQLite). @default 1,000 */
  chunkRows?: number;
}
