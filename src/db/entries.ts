/**
 * The entries repository contract: the hot path of reconciliation. Each dialect implements
 * it with its driver directly (prepared statements on SQLite, array parameters on
 * PostgreSQL), because a query builder per row costs more than the write itself.
 */

export interface EntryScope {
  tenantId: number;
  storageId: number;
  /**
   * The storage's fence this scan was granted with its lease. When set, every write checks
   * it inside its own transaction and is refused (IndexError INDEX_FENCED) once the
   * storage's fence moved on: a scan that lost its lease writes nothing after its successor
   * started.
   */
  fence?: number | undefined;
  /**
   * When set, every batch that changed something also writes its created / updated /
   * deleted ids to the outbox (`change_events`), in the same transaction: the event is
   * committed exactly when the change is.
   */
  outbox?: { scanId: number | null } | undefined;
}

export interface IndexedEntry {
  id: number;
  path: string;
  isDir: boolean;
  size: number;
  mtime: number;
  etag: string | null;
  mediaKind: string | null;
}

/**
 * An entry row as both dialects read it, in array mode (cheaper than row objects):
 * `id, path, is_dir, size, mtime, etag, media_kind`.
 */
export type EntryRow = [number, string, number, number, number, string | null, string | null];

export function entryFromRow(r: EntryRow): IndexedEntry {
  return {
    id: r[0],
    path: r[1],
    isDir: r[2] === 1,
    size: r[3],
    mtime: r[4],
    etag: r[5],
    mediaKind: r[6],
  };
}

/** Rows per page of {@link EntryRepository.list}, in both dialects. */
export const LIST_PAGE = 1000;

/**
 * Yields `list`'s entries page by page (keyset: `path > last`), so no cursor holds the
 * connection between yields and memory stays flat however big the subtree. `page(after)`
 * returns at most {@link LIST_PAGE} rows ordered by path; `''` sorts before every path and
 * a subtree's lower bound is not itself an entry, so either can start the walk.
 */
export async function* keysetPages(
  first: string,
  page: (after: string) => EntryRow[] | Promise<EntryRow[]>,
): AsyncIterable<IndexedEntry> {
  let after = first;
  for (;;) {
    const rows = await page(after);
    for (const r of rows) yield entryFromRow(r);
    if (rows.length < LIST_PAGE) return;
    after = rows[rows.length - 1]![1];
  }
}

export interface EntryWrite {
  path: string;
  parent: string;
  name: string;
  isDir: boolean;
  size: number;
  mtime: number;
  etag: string | null;
  mediaKind: string | null;
  /**
   * True when the index held no entry at this path when the batch was read. A hint: a
   * repository may insert such rows without conflict handling (PostgreSQL uses COPY), but
   * must stay correct when it is wrong — an overlapping scan may have inserted the row since.
   */
  isNew?: boolean;
}

/** An entry to remove; a directory takes its whole subtree with it. */
export interface Removal {
  path: string;
  isDir: boolean;
}

/**
 * A directory's listing digest (src/scan/listing-digest.ts), stored on its row with the
 * batch that made its child rows what that listing says (see {@link EntryRepository.apply}).
 */
export interface ListingDigest {
  dir: string;
  digest: string;
  /**
   * The value {@link EntryRepository.childrenUnlessSame} read on the directory's row with
   * the rows this digest was compared with (a digest, a token, or null): stored only if the
   * row still holds it (compare-and-set), so a write by anyone since that read wins.
   */
  was: string | null;
  /**
   * The id of the directory's row that value was read on (null: no row then, or a file's:
   * a file replaced by a directory is written anew, and the scan's batch writes its rows):
   * a directory removed and written anew since holds null again, yet none of the rows read.
   */
  row: number | null;
}

/** {@link EntryRepository.childrenUnlessSame}'s answer. */
export interface ChildrenUnlessSame {
  /** As childrenOf's: the rows of each directory read, absent when it has none. */
  children: Map<string, IndexedEntry[]>;
  /** The directories whose stored digest was the one given: not read. */
  same: Set<string>;
  /**
   * The value read on the row of each directory probed and not found the same (its digest,
   * a token, or null; no row: null) and the row's id, by the same read as its answer:
   * {@link ListingDigest.was} and {@link ListingDigest.row} when its digest is stored. (A
   * directory in `same` stores nothing: it has none.)
   */
  was: Map<string, { value: string | null; row: number | null }>;
}

export interface EntryRef {
  id: number;
  isDir: boolean;
}

/** What one batch actually did, as the database saw it (exact even when scans overlap). */
export interface ApplyResult {
  created: EntryRef[];
  updated: EntryRef[];
  deleted: EntryRef[];
}

export interface ListEntriesOptions {
  recursive?: boolean;
}

export interface EntryRepository {
  /**
   * Entries per batch this dialect writes best, the scan's default. SQLite's writes run
   * synchronously on the event loop, so its batches are small enough not to stall the
   * listings in flight; a PostgreSQL batch costs round trips, so its batches are large.
   */
  readonly batchEntries: number;
  /**
   * Optional: batches commit in the order `apply` is called, even when a call is made before
   * the one before it resolved (SQLite: one writer, one queue). A scan then hands a batch on
   * and diffs the next while it is written. Absent: each batch is awaited before the next
   * (PostgreSQL's pool could commit two in either order).
   */
  readonly appliesInOrder?: boolean;
  /** The indexed children of each directory, in one round trip. Directories with none are absent. */
  childrenOf(scope: EntryScope, dirs: readonly string[]): Promise<Map<string, IndexedEntry[]>>;
  /**
   * Optional (listing digests, migration 021): {@link childrenOf} of `dirs`, except that a
   * directory whose row holds `digests[i]` as its listing digest is not read and is named in
   * `same`: its child rows are what a listing with that digest makes. A null digest, and the
   * root (no row), never match. Absent: a scan reads every directory's rows.
   */
  childrenUnlessSame?(
    scope: EntryScope,
    dirs: readonly string[],
    digests: readonly (string | null)[],
  ): Promise<ChildrenUnlessSame>;
  /**
   * The indexed entries at these exact paths, by path (paths not indexed are absent): how a
   * page of a huge directory is compared with the index without reading all its children.
   */
  lookup(scope: EntryScope, paths: readonly string[]): Promise<Map<string, IndexedEntry>>;
  /**
   * One transaction: removals first (subtrees included), then upserts that change a row
   * only when something differs. With `scope.fence`, the fence is checked in the same
   * transaction, whatever path the writes take.
   *
   * Listing digests (a repository with {@link childrenUnlessSame}): then each of `digests`
   * is stored on its directory's row if the row still holds its `was` (compare-and-set; one
   * without a row keeps none), and every directory with a child row written or removed here
   * that is not in `digests` gets a fresh token, a value no read has seen and no digest
   * equals (compared in full, as null) — whoever calls, whatever the rows: a stored digest
   * is only ever one written with the rows it was compared with, and no write came between.
   * A repository without them ignores `digests`.
   */
  apply(
    scope: EntryScope,
    removals: readonly Removal[],
    writes: readonly EntryWrite[],
    digests?: readonly ListingDigest[],
  ): Promise<ApplyResult>;
  /** Files and directories strictly below `dir`. */
  countSubtree(scope: EntryScope, dir: string): Promise<{ files: number; dirs: number }>;
  /** Children of `dir` (or its whole subtree), ordered by path bytewise. */
  list(scope: EntryScope, dir: string, options?: ListEntriesOptions): AsyncIterable<IndexedEntry>;
  /**
   * Optional: a scan has ended, having created `created` rows, and its result is recorded.
   * A repository may tidy up what a large load left behind (PostgreSQL rebuilds the
   * B-trees a first scan leaves half full). Resolves when done, or at once once `signal`
   * aborts; never rejects — a failure costs only what the tidying would have saved.
   */
  afterScan?(created: number, signal?: AbortSignal): Promise<void>;
}

/** A batch's ids as the outbox stores them (JSON arrays), or undefined when it changed nothing. */
export function changeEvent(
  r: ApplyResult,
): { created: string; updated: string; deleted: string } | undefined {
  if (r.created.length === 0 && r.updated.length === 0 && r.deleted.length === 0) return undefined;
  const ids = (refs: EntryRef[]) => JSON.stringify(refs.map((x) => x.id));
  return { created: ids(r.created), updated: ids(r.updated), deleted: ids(r.deleted) };
}
