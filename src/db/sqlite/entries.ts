import type BetterSqlite3 from 'better-sqlite3';
import { subtreeRange } from '../../storage/paths.js';
import { entryFromRow, keysetPages, LIST_PAGE } from '../entries.js';
import { entryWriter, packBatch, unpackResult } from './entry-writer.js';
import type { PackedBatch, PackedResult } from './entry-writer.js';
import { NameIndexBacklog } from './name-index.js';
import { preparedOnUse } from './statements.js';
import { WriterThread, type WriterThreadOptions } from './writer-thread.js';
import type {
  ApplyResult,
  ChildrenUnlessSame,
  ListingDigest,
  EntryRow,
  EntryRepository,
  EntryScope,
  EntryWrite,
  IndexedEntry,
  ListEntriesOptions,
  Removal,
} from '../entries.js';

const COLUMNS = 'id, path, is_dir, size, mtime, etag, media_kind';
/**
 * A directory's children, by the children index: its key is the directory's row id
 * (migration 019), read here by the unique (storage_id, path) index in the same statement;
 * and the orphans of a directory without a row (019: a scan of roots below `/` wrote them
 * first), by their partial index, which is empty as a whole scan leaves the index: a probe.
 * `+tenant_id`: no index may serve the tenant term. With an index that begins with
 * tenant_id (009's time steps) and no statistics, SQLite read the storage's whole unique
 * index for every directory instead: a first scan went quadratic (60,000 entries 2.5 s →
 * 20 s; test/db.sqlite-plans.test.ts).
 */
export const CHILDREN_SQL = `SELECT ${COLUMNS} FROM entries
  WHERE parent_id = (SELECT id FROM entries WHERE storage_id = ? AND path = ?)
    AND +tenant_id = ?
  UNION ALL SELECT ${COLUMNS} FROM entries
  WHERE parent_id IS NULL AND storage_id = ? AND path > ? AND path < ? AND +parent = ?
    AND +tenant_id = ?`;
/**
 * The listing digest and directory id (null: a file's row) of each path of a JSON array, by
 * its place in the array (`key`); a path without a row has no result row. `CROSS JOIN`:
 * json_each stays the outer loop and each path is one probe of the unique (storage_id,
 * path) index (test/db.sqlite-plans.test.ts). Batched: 10,100 directories 45–55 ms one
 * statement each, 15 ms in batches of 40 (the bench tree's index, `process.hrtime`).
 */
export const DIGESTS_SQL = `SELECT j.key, e.listing_digest, CASE WHEN e.is_dir THEN e.id END
  FROM json_each(?) AS j CROSS JOIN entries AS e
  WHERE e.storage_id = ? AND e.path = j.value AND +e.tenant_id = ?`;
/** The root's children: the root has no row, its children's key is `-storage_id` (019). */
export const ROOT_CHILDREN_SQL = `SELECT ${COLUMNS} FROM entries
  WHERE parent_id = -? AND +tenant_id = ?`;
/** A page of a directory's children in path order, within its subtree's path range. */
export const LIST_CHILDREN_SQL = `SELECT ${COLUMNS} FROM entries
  WHERE storage_id = ? AND tenant_id = ? AND parent = ? AND path > ? AND path < ?
  ORDER BY path LIMIT ${LIST_PAGE}`;
/**
 * Rows written in the calling thread before the writer thread starts: a thread costs a
 * Node isolate (~30–40 ms of CPU, a few MB), which a small scan, a watch's few directories
 * or an empty folder never earn back.
 */
export const THREAD_AFTER_ROWS = 4000;

/** Where the writer thread would open the index, and when it starts; none: never. */
export interface WriterThreadPlan extends Omit<WriterThreadOptions, 'backlogRows'> {
  /** @default {@link THREAD_AFTER_ROWS} */
  afterRows?: number;
}

/**
 * Entries on SQLite through better-sqlite3 prepared statements. Reads run on the caller's
 * connection; a batch of writes is one IMMEDIATE transaction (entry-writer.ts): SQLite runs
 * one writer at a time, so the insert-or-update split counts created vs updated exactly even
 * when two scans overlap. Once a scan has written {@link THREAD_AFTER_ROWS} rows, the
 * batches go to a writer thread with a connection of its own (writer-thread.ts), and the
 * caller lists and diffs while they are written; `apply` resolves once its batch committed,
 * so what a caller reads after awaiting it includes it.
 */
export class SqliteEntryRepository implements EntryRepository {
  /** 1,000: as fast as 5,000 for a local scan, and a write blocks the event loop ~6 ms, not ~30. */
  readonly batchEntries = 1000;
  /**
   * Batches commit in call order: on this thread `apply` writes before it returns; the
   * writer thread takes its messages in order.
   */
  readonly appliesInOrder = true;
  readonly #db: BetterSqlite3.Database;
  // Prepared at first use (statements.ts).
  readonly #children = preparedOnUse(() => this.#db.prepare(CHILDREN_SQL).raw());
  readonly #rootChildren = preparedOnUse(() => this.#db.prepare(ROOT_CHILDREN_SQL).raw());
  // The listing digests of a batch's directories (migration 021), each by the unique
  // (storage_id, path) index: `j.key` is the directory's place in the JSON array, a
  // directory without a row has no result row. CROSS JOIN keeps json_each outermost (see
  // DIGESTS_SQL).
  readonly #digestsOf = preparedOnUse(() => this.#db.prepare(DIGESTS_SQL).raw());
  // The paths as one JSON array: one statement a page instead of one a path (2.5x cheaper).
  readonly #atPath = preparedOnUse(() =>
    this.#db
      .prepare(
        `SELECT ${COLUMNS} FROM entries WHERE storage_id = ? AND tenant_id = ?
         AND path IN (SELECT value FROM json_each(?))`,
      )
      .raw(),
  );
  readonly #countSubtree = preparedOnUse(() =>
    this.#db
      .prepare(
        `SELECT COALESCE(SUM(is_dir = 0), 0), COALESCE(SUM(is_dir = 1), 0) FROM entries
         WHERE storage_id = ? AND tenant_id = ? AND path >= ? AND path < ?`,
      )
      .raw(),
  );
  // Keyset pages (path > last) so that a long listing never holds the connection busy
  // between yields, and memory stays flat however big the subtree.
  readonly #listChildren = preparedOnUse(() => this.#db.prepare(LIST_CHILDREN_SQL).raw());
  readonly #listSubtree = preparedOnUse(() =>
    this.#db
      .prepare(
        `SELECT ${COLUMNS} FROM entries WHERE storage_id = ? AND tenant_id = ? AND path > ? AND path < ?
         ORDER BY path LIMIT ${LIST_PAGE}`,
      )
      .raw(),
  );
  /** Writes a batch on this thread (before the writer thread starts, or without one). */
  readonly #write: (batch: PackedBatch) => PackedResult;
  readonly #threadOptions: WriterThreadOptions | undefined;
  readonly #threadAfterRows: number;
  #thread: WriterThread | undefined;
  /** Rows this repository was asked to write or remove. */
  #written = 0;

  /** `thread`: the index file to start a writer thread on once a scan writes enough rows. */
  constructor(
    db: BetterSqlite3.Database,
    names = new NameIndexBacklog(db),
    thread?: WriterThreadPlan,
  ) {
    this.#db = db;
    this.#write = entryWriter(db, names.limit);
    if (thread) {
      const { afterRows, ...options } = thread;
      this.#threadOptions = { ...options, backlogRows: names.limit };
      this.#threadAfterRows = afterRows ?? THREAD_AFTER_ROWS;
    } else this.#threadAfterRows = Number.POSITIVE_INFINITY;
  }

  async childrenOf(
    scope: EntryScope,
    dirs: readonly string[],
  ): Promise<Map<string, IndexedEntry[]>> {
    const out = new Map<string, IndexedEntry[]>();
    for (const dir of dirs) {
      const { storageId: s, tenantId: t } = scope;
      const rows = (
        dir === '/'
          ? this.#rootChildren().all(s, t)
          : this.#children().all(s, dir, t, s, `${dir}/`, `${dir}0`, dir, t)
      ) as EntryRow[];
      if (rows.length > 0) out.set(dir, rows.map(entryFromRow));
    }
    return out;
  }

  /**
   * One read of the batch's directory rows (their digests and ids, by the unique index:
   * ~1.5 µs a directory, against ~4.5 µs for a statement each) before their children's
   * (22 µs a directory of the bench tree): an unchanged directory costs the first only.
   */
  async childrenUnlessSame(
    scope: EntryScope,
    dirs: readonly string[],
    digests: readonly (string | null)[],
  ): Promise<ChildrenUnlessSame> {
    const same = new Set<string>();
    const was = new Map<string, { value: string | null; row: number | null }>();
    const { storageId: s, tenantId: t } = scope;
    // The directories with a digest to compare, in one statement; the root has no row.
    const probed: string[] = [];
    const at: number[] = [];
    for (let i = 0; i < dirs.length; i++) {
      if ((digests[i] ?? null) !== null && dirs[i] !== '/') {
        probed.push(dirs[i]!);
        at.push(i);
      }
    }
    // Read before the rows: a write under a directory after this read changes the value (a
    // fresh token), so the digest stored against it is refused (apply).
    const found: ([string | null, number | null] | undefined)[] = new Array(probed.length);
    if (probed.length > 0) {
      const rows = this.#digestsOf().all(JSON.stringify(probed), s, t) as [
        number,
        string | null,
        number | null,
      ][];
      for (const [k, value, row] of rows) found[k] = [value, row];
    }
    const read: string[] = [];
    let next = 0;
    for (let i = 0; i < dirs.length; i++) {
      const dir = dirs[i]!;
      if (at[next] !== i) {
        read.push(dir);
        continue;
      }
      const [value, row] = found[next++] ?? [null, null];
      if (value === digests[i]) same.add(dir);
      else {
        // Only a directory compared in full stores its digest, against this value.
        was.set(dir, { value, row });
        read.push(dir);
      }
    }
    return { children: await this.childrenOf(scope, read), same, was };
  }

  async lookup(scope: EntryScope, paths: readonly string[]): Promise<Map<string, IndexedEntry>> {
    const out = new Map<string, IndexedEntry>();
    const rows = this.#atPath().all(scope.storageId, scope.tenantId, JSON.stringify(paths));
    for (const r of rows as EntryRow[]) out.set(r[1], entryFromRow(r));
    return out;
  }

  async apply(
    scope: EntryScope,
    removals: readonly Removal[],
    writes: readonly EntryWrite[],
    digests: readonly ListingDigest[] = [],
  ): Promise<ApplyResult> {
    if (removals.length === 0 && writes.length === 0 && digests.length === 0)
      return { created: [], updated: [], deleted: [] };
    const batch = packBatch(scope, removals, writes, digests);
    if (!this.#thread && this.#written >= this.#threadAfterRows && this.#threadOptions) {
      this.#thread = new WriterThread(this.#threadOptions);
    }
    this.#written += writes.length + removals.length;
    const result = this.#thread ? await this.#thread.apply(batch) : this.#write(batch);
    return unpackResult(batch, result);
  }

  /** The writer thread while it runs: a scan's progress writes go there too (bookkeeping.ts). */
  get writerThread(): WriterThread | undefined {
    return this.#thread?.alive ? this.#thread : undefined;
  }

  /** Lets the writer thread finish its batches and stop (a no-op when none was started). */
  async close(): Promise<void> {
    await this.#thread?.close();
  }

  async countSubtree(scope: EntryScope, dir: string): Promise<{ files: number; dirs: number }> {
    const { lower, upper } = subtreeRange(dir);
    const [files, dirs] = this.#countSubtree().get(
      scope.storageId,
      scope.tenantId,
      lower,
      upper,
    ) as [number, number];
    return { files, dirs };
  }

  async *list(
    scope: EntryScope,
    dir: string,
    options: ListEntriesOptions = {},
  ): AsyncIterable<IndexedEntry> {
    const { lower, upper } = subtreeRange(dir);
    const { storageId, tenantId } = scope;
    // Both read the path index in order within the directory's subtree: a directory's
    // children are in it, so its first page never walks the rest of the storage (a paged
    // listing asks whether a directory has any child: that read went from the storage's
    // first path on).
    yield* keysetPages(lower, (after) =>
      options.recursive
        ? (this.#listSubtree().all(storageId, tenantId, after, upper) as EntryRow[])
        : (this.#listChildren().all(storageId, tenantId, dir, after, upper) as EntryRow[]),
    );
  }

  /** The underlying handle, for tests that count writes. */
  get database(): BetterSqlite3.Database {
    return this.#db;
  }
}
