import type BetterSqlite3 from 'better-sqlite3';
import { subtreeRange } from '../../storage/paths.js';
import { changeEvent, entryFromRow, keysetPages, LIST_PAGE } from '../entries.js';
import { fencedError } from '../errors.js';
import { NameIndexBacklog } from './name-index.js';
import type {
  ApplyResult,
  EntryRow,
  EntryRef,
  EntryRepository,
  EntryScope,
  EntryWrite,
  IndexedEntry,
  ListEntriesOptions,
  Removal,
} from '../entries.js';

const COLUMNS = 'id, path, is_dir, size, mtime, etag, media_kind';
/** Rows per multi-row INSERT: 900 parameters, far below SQLite's 32,766. */
const INSERT_ROWS = 100;

/**
 * Entries on SQLite through better-sqlite3 prepared statements. Synchronous calls in one
 * IMMEDIATE transaction per batch: SQLite runs one writer at a time, so the insert-or-update
 * split below counts created vs updated exactly even when two scans overlap.
 */
export class SqliteEntryRepository implements EntryRepository {
  /** 1,000: as fast as 5,000 for a local scan, and a write blocks the event loop ~6 ms, not ~30. */
  readonly batchEntries = 1000;
  readonly #db: BetterSqlite3.Database;
  readonly #names: NameIndexBacklog;
  readonly #children: BetterSqlite3.Statement;
  readonly #atPath: BetterSqlite3.Statement;
  readonly #fenceOf: BetterSqlite3.Statement;
  readonly #outbox: BetterSqlite3.Statement;
  readonly #insert: BetterSqlite3.Statement;
  readonly #insertStatements = new Map<number, BetterSqlite3.Statement>();
  readonly #update: BetterSqlite3.Statement;
  readonly #deleteOne: BetterSqlite3.Statement;
  readonly #deleteSubtree: BetterSqlite3.Statement;
  readonly #countSubtree: BetterSqlite3.Statement;
  readonly #listChildren: BetterSqlite3.Statement;
  readonly #listSubtree: BetterSqlite3.Statement;
  readonly #applyTx: BetterSqlite3.Transaction<
    (scope: EntryScope, removals: readonly Removal[], writes: readonly EntryWrite[]) => ApplyResult
  >;

  constructor(db: BetterSqlite3.Database, names = new NameIndexBacklog(db)) {
    this.#db = db;
    this.#names = names;
    this.#children = db
      .prepare(
        `SELECT ${COLUMNS} FROM entries WHERE storage_id = ? AND parent = ? AND tenant_id = ?`,
      )
      .raw();
    // The paths as one JSON array: one statement a page instead of one a path (2.5x cheaper).
    this.#atPath = db
      .prepare(
        `SELECT ${COLUMNS} FROM entries WHERE storage_id = ? AND tenant_id = ?
         AND path IN (SELECT value FROM json_each(?))`,
      )
      .raw();
    this.#fenceOf = db.prepare(`SELECT fence FROM storages WHERE id = ?`).pluck();
    this.#outbox = db.prepare(
      `INSERT INTO change_events (tenant_id, storage_id, scan_id, created, updated, deleted, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insert = db
      .prepare(
        `INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (storage_id, tenant_id, path) DO NOTHING
       RETURNING id`,
      )
      .pluck();
    // Only rows that differ are touched: an unchanged rescan writes nothing.
    this.#update = db
      .prepare(
        `UPDATE entries SET is_dir = ?, size = ?, mtime = ?, etag = ?, media_kind = ?
       WHERE storage_id = ? AND tenant_id = ? AND path = ?
         AND (is_dir IS NOT ? OR size IS NOT ? OR mtime IS NOT ? OR etag IS NOT ? OR media_kind IS NOT ?)
       RETURNING id`,
      )
      .pluck();
    this.#deleteOne = db
      .prepare(
        `DELETE FROM entries WHERE storage_id = ? AND tenant_id = ? AND path = ? RETURNING id, is_dir`,
      )
      .raw();
    this.#deleteSubtree = db
      .prepare(
        `DELETE FROM entries WHERE storage_id = ? AND tenant_id = ? AND path >= ? AND path < ? RETURNING id, is_dir`,
      )
      .raw();
    this.#countSubtree = db
      .prepare(
        `SELECT COALESCE(SUM(is_dir = 0), 0), COALESCE(SUM(is_dir = 1), 0) FROM entries
         WHERE storage_id = ? AND tenant_id = ? AND path >= ? AND path < ?`,
      )
      .raw();
    // Keyset pages (path > last) so that a long listing never holds the connection busy
    // between yields, and memory stays flat however big the subtree.
    this.#listChildren = db
      .prepare(
        `SELECT ${COLUMNS} FROM entries WHERE storage_id = ? AND tenant_id = ? AND parent = ? AND path > ?
         ORDER BY path LIMIT ${LIST_PAGE}`,
      )
      .raw();
    this.#listSubtree = db
      .prepare(
        `SELECT ${COLUMNS} FROM entries WHERE storage_id = ? AND tenant_id = ? AND path > ? AND path < ?
         ORDER BY path LIMIT ${LIST_PAGE}`,
      )
      .raw();
    this.#applyTx = db.transaction(
      (scope: EntryScope, removals: readonly Removal[], writes: readonly EntryWrite[]) =>
        this.#applySync(scope, removals, writes),
    );
  }

  async childrenOf(
    scope: EntryScope,
    dirs: readonly string[],
  ): Promise<Map<string, IndexedEntry[]>> {
    const out = new Map<string, IndexedEntry[]>();
    for (const dir of dirs) {
      const rows = this.#children.all(scope.storageId, dir, scope.tenantId) as EntryRow[];
      if (rows.length > 0) out.set(dir, rows.map(entryFromRow));
    }
    return out;
  }

  async lookup(scope: EntryScope, paths: readonly string[]): Promise<Map<string, IndexedEntry>> {
    const out = new Map<string, IndexedEntry>();
    const rows = this.#atPath.all(scope.storageId, scope.tenantId, JSON.stringify(paths));
    for (const r of rows as EntryRow[]) out.set(r[1], entryFromRow(r));
    return out;
  }

  async apply(
    scope: EntryScope,
    removals: readonly Removal[],
    writes: readonly EntryWrite[],
  ): Promise<ApplyResult> {
    if (removals.length === 0 && writes.length === 0)
      return { created: [], updated: [], deleted: [] };
    return this.#applyTx.immediate(scope, removals, writes);
  }

  #applySync(
    scope: EntryScope,
    removals: readonly Removal[],
    writes: readonly EntryWrite[],
  ): ApplyResult {
    const { storageId, tenantId } = scope;
    // Under the write lock (IMMEDIATE): no lease grant can move the fence until commit.
    if (scope.fence !== undefined) {
      const current = this.#fenceOf.get(storageId) as number | undefined;
      if (current !== scope.fence) throw fencedError(storageId, scope.fence, current);
    }
    const result: ApplyResult = { created: [], updated: [], deleted: [] };
    for (const r of removals) {
      for (const [id, isDir] of this.#deleteOne.all(storageId, tenantId, r.path) as [
        number,
        number,
      ][]) {
        result.deleted.push({ id, isDir: isDir === 1 });
      }
      if (r.isDir) {
        const { lower, upper } = subtreeRange(r.path);
        for (const [id, isDir] of this.#deleteSubtree.all(storageId, tenantId, lower, upper) as [
          number,
          number,
        ][]) {
          result.deleted.push({ id, isDir: isDir === 1 });
        }
      }
    }
    // Rows the diff found new go in by multi-row INSERTs (a third cheaper than one statement
    // a row); a row another scan inserted first is not returned and goes the update way.
    const fresh = writes.filter((w) => w.isNew !== false);
    for (let i = 0; i < fresh.length; i += INSERT_ROWS) {
      const chunk = fresh.slice(i, i + INSERT_ROWS);
      const params: unknown[] = [];
      for (const w of chunk) {
        params.push(tenantId, storageId, w.path, w.name, w.isDir ? 1 : 0);
        params.push(w.size, w.mtime, w.etag, w.mediaKind);
      }
      const inserted = new Map<string, number>();
      for (const [id, path] of this.#insertMany(chunk.length).all(params) as [number, string][]) {
        inserted.set(path, id);
      }
      for (const w of chunk) {
        const id = inserted.get(w.path);
        if (id !== undefined) result.created.push({ id, isDir: w.isDir });
        else this.#updateOne(scope, w, result);
      }
    }
    // Rows the diff found changed: the update first; the insert only when the row vanished
    // meanwhile. Either order counts exactly.
    for (const w of writes) {
      if (w.isNew !== false) continue;
      if (this.#updateOne(scope, w, result)) continue;
      const created = this.#insert.get(
        tenantId,
        storageId,
        w.path,
        w.name,
        w.isDir ? 1 : 0,
        w.size,
        w.mtime,
        w.etag,
        w.mediaKind,
      ) as number | undefined;
      if (created !== undefined) result.created.push({ id: created, isDir: w.isDir });
    }
    // The name index takes new rows in bulk, a large backlog at a time (name-index.ts).
    if (result.created.length > 0) this.#names.settle();
    if (scope.outbox) {
      const e = changeEvent(result);
      if (e) {
        this.#outbox.run(
          tenantId,
          storageId,
          scope.outbox.scanId,
          e.created,
          e.updated,
          e.deleted,
          Date.now(),
        );
      }
    }
    return result;
  }

  /** Updates one row if something differs; true when it did. */
  #updateOne(scope: EntryScope, w: EntryWrite, result: ApplyResult): boolean {
    const isDir = w.isDir ? 1 : 0;
    const id = this.#update.get(
      isDir,
      w.size,
      w.mtime,
      w.etag,
      w.mediaKind,
      scope.storageId,
      scope.tenantId,
      w.path,
      isDir,
      w.size,
      w.mtime,
      w.etag,
      w.mediaKind,
    ) as number | undefined;
    if (id === undefined) return false;
    result.updated.push({ id, isDir: w.isDir } satisfies EntryRef);
    return true;
  }

  /** The multi-row insert for `rows` rows, prepared once per size. */
  #insertMany(rows: number): BetterSqlite3.Statement {
    let statement = this.#insertStatements.get(rows);
    if (!statement) {
      statement = this.#db
        .prepare(
          `INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind)
           VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
           ON CONFLICT (storage_id, tenant_id, path) DO NOTHING
           RETURNING id, path`,
        )
        .raw();
      this.#insertStatements.set(rows, statement);
    }
    return statement;
  }

  async countSubtree(scope: EntryScope, dir: string): Promise<{ files: number; dirs: number }> {
    const { lower, upper } = subtreeRange(dir);
    const [files, dirs] = this.#countSubtree.get(scope.storageId, scope.tenantId, lower, upper) as [
      number,
      number,
    ];
    return { files, dirs };
  }

  async *list(
    scope: EntryScope,
    dir: string,
    options: ListEntriesOptions = {},
  ): AsyncIterable<IndexedEntry> {
    const { lower, upper } = subtreeRange(dir);
    const { storageId, tenantId } = scope;
    yield* keysetPages(options.recursive ? lower : '', (after) =>
      options.recursive
        ? (this.#listSubtree.all(storageId, tenantId, after, upper) as EntryRow[])
        : (this.#listChildren.all(storageId, tenantId, dir, after) as EntryRow[]),
    );
  }

  /** The underlying handle, for tests that count writes. */
  get database(): BetterSqlite3.Database {
    return this.#db;
  }
}
