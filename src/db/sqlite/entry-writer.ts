import type BetterSqlite3 from 'better-sqlite3';
import type {
  ApplyResult,
  EntryRef,
  EntryScope,
  EntryWrite,
  ListingDigest,
  Removal,
} from '../entries.js';
import { fencedError } from '../errors.js';

/**
 * One batch of `EntryRepository.apply` as SQLite's writer takes it, on the main thread or in
 * the writer thread (writer-thread.ts): plain strings and numbers, so a batch crosses to the
 * thread as a few strings and one flat array instead of a structured clone of 1,000 objects.
 */
export interface PackedBatch {
  tenantId: number;
  storageId: number;
  fence: number | null;
  /** Whether the batch also writes its change event, and for which scan. */
  outbox: boolean;
  scanId: number | null;
  /** JSON `[[path, isDir 0|1], …]`. */
  removals: string;
  /**
   * Rows the diff found new, in path order (see packBatch), flat, as the multi-row INSERT
   * binds them: `path, nameBytes, isDir 0|1, size, mtime, etag, mediaKind, parentId` (8
   * values a row; the batch's tenant and storage are bound once a statement). `parentId`
   * is null here: the writer sets it in place, and binds each statement's rows as one slice.
   * Built here rather than parsed from JSON in the writer: the writer thread is a first
   * scan's longest serial part, and a flat array is cloned natively. The name goes as its
   * length in UTF-8 bytes, the column (migration 019), counted here: a number instead of a
   * string to clone, to decode and to bind, on the thread that waits least.
   */
  fresh: unknown[];
  freshRows: number;
  /** The same shape: rows the diff found changed. */
  changed: string;
  /** JSON `[[dir, digest, was, row], …]`: listing digests to store (EntryRepository.apply). */
  digests: string;
}

/**
 * What the batch did: ids with their kind, flat (`[id, isDir 0|1, …]`), or the fence it
 * found moved (the write was refused). `fresh`: when every new row went in, the id of the
 * first (the others follow it in the batch's order; `created` holds only the rest), else 0.
 */
export type PackedResult =
  | { fresh: number; created: number[]; updated: number[]; deleted: number[] }
  | { fenced: number | null };

type Row = [string, string, 0 | 1, number, number, string | null, string | null];
/** A new row as `PackedBatch.fresh` holds it: the name as its length in bytes. */
type FreshRow = [string, number, 0 | 1, number, number, string | null, string | null];

export function packBatch(
  scope: EntryScope,
  removals: readonly Removal[],
  writes: readonly EntryWrite[],
  digests: readonly ListingDigest[] = [],
): PackedBatch {
  const news: EntryWrite[] = [];
  const changed: Row[] = [];
  for (const w of writes) {
    if (w.isNew === false) {
      changed.push([w.path, w.name, w.isDir ? 1 : 0, w.size, w.mtime, w.etag, w.mediaKind]);
    } else news.push(w);
  }
  // New rows go in by path: each run of them fills the pages it lands on in both B-trees
  // keyed by path (the unique path and, nearly, the children index), where the listing's
  // order splits pages that later rows never fill (docs/index-database.md).
  news.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const fresh: unknown[] = [];
  for (const w of news) {
    const isDir = w.isDir ? 1 : 0;
    const nameBytes = Buffer.byteLength(w.name);
    fresh.push(w.path, nameBytes, isDir, w.size, w.mtime, w.etag, w.mediaKind, null);
  }
  return {
    tenantId: scope.tenantId,
    storageId: scope.storageId,
    fence: scope.fence ?? null,
    outbox: scope.outbox !== undefined,
    scanId: scope.outbox?.scanId ?? null,
    removals: JSON.stringify(removals.map((r) => [r.path, r.isDir ? 1 : 0])),
    fresh,
    freshRows: news.length,
    changed: JSON.stringify(changed),
    digests: JSON.stringify(digests.map((d) => [d.dir, d.digest, d.was, d.row])),
  };
}

/** The repository's result from the writer's; a refused fence as its IndexError. */
export function unpackResult(batch: PackedBatch, r: PackedResult): ApplyResult {
  if ('fenced' in r) {
    throw fencedError(batch.storageId, batch.fence ?? 0, r.fenced ?? undefined);
  }
  const created: EntryRef[] = [];
  if (r.fresh > 0) {
    // The ids follow `fresh`'s rows in order; isDir is each row's third value.
    for (let i = 0; i < batch.freshRows; i++) {
      created.push({ id: r.fresh + i, isDir: batch.fresh[i * 8 + 2] === 1 });
    }
  }
  return { created: refs(r.created, created), updated: refs(r.updated), deleted: refs(r.deleted) };
}

function refs(flat: number[], out: EntryRef[] = []): EntryRef[] {
  for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, isDir: flat[i + 1] === 1 });
  return out;
}

/**
 * The write half of SQLite's entries repository, over one connection: `apply` runs a batch
 * in one IMMEDIATE transaction and returns what it did. The writer thread runs this very
 * function from its source text (writer-thread.ts), so it is self-contained: nothing from
 * outside its body but its parameters and JavaScript's globals.
 *
 * Measured choices (docs/benchmarks.md, "Where a first scan's writes go"):
 * - rows the diff found new go in by multi-row INSERTs of 100 rows without RETURNING: when
 *   every row went in, the ids are one run ending at the last statement's last rowid
 *   (AUTOINCREMENT, one writer at a time), so the reply names the first. Only when a row was
 *   already there (an overlapping scan wrote it first) are the new ids read back, as the
 *   batch's rows above the largest id before it; the others take the update's way. Replayed
 *   alone (bench/write-path.ts before 019, CPU seconds for 210,100 rows without the name index):
 *   `RETURNING id, path` as before 1.29 s, without it 1.10 s; one `INSERT … SELECT … FROM
 *   json_each(?)` a batch 1.39 s — slower here, for all it saves in bound parameters;
 * - rows the diff found changed: the update first, the insert only when the row vanished
 *   meanwhile; either order counts exactly;
 * - the name index takes new rows in bulk, a backlog of `backlogRows` at a time
 *   (name-index.ts), in the batch's transaction.
 */
export function entryWriter(
  db: BetterSqlite3.Database,
  backlogRows: number,
): (batch: PackedBatch) => PackedResult {
  // Each statement is prepared at its first use: a scan that writes nothing (an unchanged or
  // empty folder) prepares none of them, and the index opens without SQLite compiling 12
  // statements (bench:startup). Written here, not imported: this function runs in the
  // writer thread as its source text (writer-thread.ts).
  const onUse = <T>(make: () => T): (() => T) => {
    let made: T | undefined;
    return () => (made ??= make());
  };
  const fenceOf = onUse(() => db.prepare(`SELECT fence FROM storages WHERE id = ?`).pluck());
  const deleteOne = onUse(() =>
    db
      .prepare(
        `DELETE FROM entries WHERE storage_id = ? AND tenant_id = ? AND path = ? RETURNING id, is_dir`,
      )
      .raw(),
  );
  const deleteSubtree = onUse(() =>
    db
      .prepare(
        `DELETE FROM entries WHERE storage_id = ? AND tenant_id = ? AND path >= ? AND path < ?
       RETURNING id, is_dir`,
      )
      .raw(),
  );
  const maxId = onUse(() => db.prepare(`SELECT COALESCE(max(id), 0) FROM entries`).pluck());
  // A directory's row id by the unique path index: once per directory of a batch's new rows.
  // A directory's: a row below a file's path (a file since turned directory, whose children a
  // watch wrote first) is an orphan, adopted when the path's row becomes a directory.
  const dirId = onUse(() =>
    db.prepare(`SELECT id FROM entries WHERE storage_id = ? AND path = ? AND is_dir = 1`).pluck(),
  );
  // Orphans (migration 019): rows whose directory had no row when they were written.
  const anyOrphan = onUse(() =>
    db.prepare(`SELECT 1 FROM entries WHERE parent_id IS NULL AND storage_id = ? LIMIT 1`).pluck(),
  );
  const adopt = onUse(() =>
    db.prepare(
      `UPDATE entries
       SET parent_id = (SELECT id FROM entries WHERE storage_id = ? AND path = ? AND is_dir = 1)
       WHERE parent_id IS NULL AND storage_id = ? AND path > ? AND path < ? AND parent = ?`,
    ),
  );
  // The children of rows that are no longer directories become orphans (JSON array of ids).
  const detach = onUse(() =>
    db.prepare(
      `UPDATE entries SET parent_id = NULL WHERE parent_id IN (SELECT value FROM json_each(?))`,
    ),
  );
  /**
   * Multi-row INSERTs, prepared once per row count (802 parameters at most): the tenant and
   * the storage bound once, by name, and 8 values a row.
   */
  const inserts = new Map<number, import('better-sqlite3').Statement>();
  const insertMany = (rows: number) => {
    let statement = inserts.get(rows);
    if (!statement) {
      const values = Array.from({ length: rows }, () => '(@t, @s, ?, ?, ?, ?, ?, ?, ?, ?)').join(
        ', ',
      );
      statement = db.prepare(
        `INSERT INTO entries (tenant_id, storage_id, path, name_bytes, is_dir, size, mtime, etag, media_kind, parent_id)
         VALUES ${values} ON CONFLICT (storage_id, path) DO NOTHING`,
      );
      inserts.set(rows, statement);
    }
    return statement;
  };
  const insertedSince = onUse(() =>
    db
      .prepare(
        `SELECT path, id FROM entries WHERE storage_id = ? AND tenant_id = ? AND id > ?
       AND path IN (SELECT value FROM json_each(?))`,
      )
      .raw(),
  );
  const insertOne = onUse(() =>
    db
      .prepare(
        `INSERT INTO entries (tenant_id, storage_id, path, name_bytes, is_dir, size, mtime, etag, media_kind, parent_id)
       VALUES (?, ?, ?, length(CAST(? AS BLOB)), ?, ?, ?, ?, ?, ?)
       ON CONFLICT (storage_id, path) DO NOTHING
       RETURNING id`,
      )
      .pluck(),
  );
  // Only rows that differ are touched: an unchanged rescan writes nothing.
  const update = onUse(() =>
    db
      .prepare(
        `UPDATE entries SET is_dir = ?, size = ?, mtime = ?, etag = ?, media_kind = ?,
         listing_digest = CASE WHEN is_dir IS ? THEN listing_digest ELSE '~' || hex(randomblob(8)) END
       WHERE storage_id = ? AND tenant_id = ? AND path = ?
         AND (is_dir IS NOT ? OR size IS NOT ? OR mtime IS NOT ? OR etag IS NOT ? OR media_kind IS NOT ?)
       RETURNING id`,
      )
      .pluck(),
  );
  const outbox = onUse(() =>
    db.prepare(
      `INSERT INTO change_events (tenant_id, storage_id, scan_id, created, updated, deleted, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
  );
  // The name index's backlog (name-index.ts): max(id) reads one path down the b-tree.
  const backlog = onUse(() =>
    db
      .prepare(`SELECT upto, COALESCE((SELECT max(id) FROM entries), 0) FROM search_watermark`)
      .raw(),
  );
  const addNames = onUse(() =>
    db.prepare(
      `INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries WHERE id > ? AND id <= ?`,
    ),
  );
  // name-index.ts's ADD_STEPS_SQL, written out: this function runs in the writer thread as
  // its source text, with nothing imported (writer-thread.ts). 2592000000 is MTIME_STEP_MS.
  const addSteps = onUse(() =>
    db.prepare(
      `INSERT INTO entries_time_steps (tenant_id, step, id)
     SELECT tenant_id, mtime / 2592000000, id FROM entries WHERE id > ? AND id <= ?
     ORDER BY 1, 2, 3`,
    ),
  );
  // And name-index.ts's ADD_NAME_ORDER_SQL (migration 017).
  const addNameOrder = onUse(() =>
    db.prepare(
      `INSERT INTO entries_name_order (media_kind, tenant_id, name, id)
     SELECT coalesce(media_kind, ''), tenant_id, name, id FROM entries WHERE id > ? AND id <= ?
     ORDER BY 1, 2, 3, 4`,
    ),
  );
  const mark = onUse(() => db.prepare(`UPDATE search_watermark SET upto = ?`));
  // Listing digests (migration 021), kept compare-and-set. A digest is stored only over the
  // value the scan read with the rows it compared (`was`): a write under the directory since
  // then changed that value, and the store is refused. So clearing writes a fresh token,
  // always, even over null or a token: null→null would be no change to compare with. The
  // token (`~` and 16 hex digits) is outside the digests' base64url alphabet, and random: it
  // equals neither a digest nor, but by a 2^-64 chance, an earlier token.
  const forgetDigest = onUse(() =>
    db.prepare(
      `UPDATE entries SET listing_digest = '~' || hex(randomblob(8))
       WHERE storage_id = ? AND path = ?`,
    ),
  );
  // And on the row read (a directory removed and written anew holds null again; no row
  // read: the scan compared no rows, and its batch writes them all). `IS NOT` the digest: a
  // batch that stores the digest it found is no write.
  const storeDigest = onUse(() =>
    db.prepare(
      `UPDATE entries SET listing_digest = ?
       WHERE storage_id = ? AND path = ? AND +tenant_id = ?
         AND listing_digest IS ? AND (? IS NULL OR id = ?) AND listing_digest IS NOT ?`,
    ),
  );

  /**
   * The digests of a batch: the directories of the rows it wrote or removed get a fresh
   * token (whoever wrote them: a watch, a scan of a subtree, a listing compared in full),
   * unless the batch stores a digest for them — after the rows, in the same transaction.
   */
  const digestsOf = (b: PackedBatch, touched: Set<string>): void => {
    const stored = JSON.parse(b.digests) as [string, string, string | null, number | null][];
    const fresh = new Set<string>();
    for (const [dir] of stored) fresh.add(dir);
    for (const dir of touched) {
      if (dir !== '/' && !fresh.has(dir)) forgetDigest().run(b.storageId, dir);
    }
    for (const [dir, digest, was, row] of stored) {
      if (dir !== '/') {
        storeDigest().run(digest, b.storageId, dir, b.tenantId, was, row, row, digest);
      }
    }
  };
  /**
   * The directory of a row's path (`/` at the root): storage/paths.ts's parentOf, written out
   * (this function runs in the writer thread as its source text, with nothing imported).
   */
  const dirOf = (path: string): string => {
    const slash = path.lastIndexOf('/');
    return slash <= 0 ? '/' : path.slice(0, slash);
  };

  /** Updates one row if something differs; its id when it did. */
  const updateOne = (b: PackedBatch, r: Row | FreshRow): number | undefined =>
    update().get(
      r[2],
      r[3],
      r[4],
      r[5],
      r[6],
      // A row whose kind changes loses its listing digest, for a fresh token (as digestsOf:
      // a directory that became a file and a directory again must not match a read of it).
      r[2],
      b.storageId,
      b.tenantId,
      r[0],
      r[2],
      r[3],
      r[4],
      r[5],
      r[6],
    ) as number | undefined;

  /**
   * The `parent_id` of a row (migration 019): `-storageId` at the root, else the directory's
   * row id, read once per directory of the batch (`ids`, dropped with the batch: memory stays
   * flat). The directory was written before its children: in an earlier batch (batches
   * commit in order, and the engine reconciles a directory no later than its children), or
   * earlier in this one, whose new rows are in path order, a directory before its children.
   * Null when it has no directory's row: an orphan, found by its directory's reads by path
   * (queries/parent.ts, CHILDREN_SQL) and adopted when that row is written (`settle`).
   */
  const parentIdOf = (
    storageId: number,
    path: string,
    ids: Map<string, number | null>,
  ): number | null => {
    const parent = dirOf(path);
    if (parent === '/') return -storageId;
    let id = ids.get(parent);
    if (id === undefined) {
      id = (dirId().get(storageId, parent) as number | undefined) ?? null;
      ids.set(parent, id);
    }
    return id;
  };

  /**
   * Keeps every row's `parent_id` its directory's row id, or NULL when its parent path has no
   * directory's row, whatever order the rows came in (test/db.orphans.test.ts): the rows
   * below a row that may have stopped being a directory (`unparented`: updated to a file,
   * or deleted as one while another writer made it a directory) become orphans; then each
   * directory written adopts the orphans below it (a scan of roots below `/` wrote them
   * first, or they were just detached). Both only after the batch's every row is in, so a
   * change of kind later in the batch is seen. The updated files are one statement, an index
   * probe each; the adoption runs only when the storage has an orphan at all, which a whole
   * scan never leaves: one probe of an empty partial index a batch.
   */
  const settle = (storageId: number, dirsWritten: string[], unparented: number[]) => {
    if (unparented.length > 0) detach().run(JSON.stringify(unparented));
    if (dirsWritten.length === 0 || anyOrphan().get(storageId) === undefined) return;
    for (const path of dirsWritten) {
      adopt().run(storageId, path, storageId, `${path}/`, `${path}0`, path);
    }
  };

  const run = (b: PackedBatch): PackedResult => {
    const { storageId, tenantId } = b;
    const dirIds = new Map<string, number | null>();
    // Rows of this batch that may have children: directories written (they adopt), and rows
    // deleted or updated that were or may have been directories (their children are detached).
    const dirsWritten: string[] = [];
    const unparented: number[] = [];
    // Under the write lock (IMMEDIATE): no lease grant can move the fence until commit.
    if (b.fence !== null) {
      const current = fenceOf().get(storageId) as number | undefined;
      if (current !== b.fence) return { fenced: current ?? null };
    }
    let fresh = 0;
    const created: number[] = [];
    const updated: number[] = [];
    const deleted: number[] = [];
    // The directories whose child rows this batch writes or removes (see digestsOf).
    const touched = new Set<string>();
    for (const [path, isDir] of JSON.parse(b.removals) as [string, 0 | 1][]) {
      touched.add(dirOf(path));
      for (const [id, d] of deleteOne().all(storageId, tenantId, path) as [number, number][]) {
        deleted.push(id, d);
        // Removed as a file, but a directory by now (another writer's): its children stay
        // (as PostgreSQL keeps them), as orphans.
        if (d === 1 && isDir === 0) unparented.push(id);
      }
      if (isDir === 1) {
        // The subtree as a bytewise range: `0` is the character right after `/`.
        const lower = path === '/' ? '/' : `${path}/`;
        const upper = path === '/' ? '0' : `${path}0`;
        for (const [id, d] of deleteSubtree().all(storageId, tenantId, lower, upper) as [
          number,
          number,
        ][]) {
          deleted.push(id, d);
        }
      }
    }
    if (b.freshRows > 0) {
      const before = maxId().get() as number;
      // 8 values a row (PackedBatch.fresh), the last the parent's id, set here.
      const flat = b.fresh;
      // Every row in, each statement's ids following the last: one run from `first`.
      let first = 0;
      let next = 0;
      let run = true;
      const owner = { t: tenantId, s: storageId };
      // The statement to come: `n` rows from row `start`.
      let start = 0;
      let n = 0;
      let lastDir = '';
      // The directories among the rows not yet inserted: a child of one waits for them.
      const waiting = new Set<string>();
      const insert = () => {
        if (n === 0) return;
        const values = flat.slice(start * 8, (start + n) * 8);
        const { changes, lastInsertRowid } = insertMany(n).run(values, owner);
        const last = Number(lastInsertRowid);
        if (changes !== n || (next !== 0 && last - n + 1 !== next)) run = false;
        if (first === 0) first = last - n + 1;
        next = last + 1;
        start += n;
        n = 0;
        waiting.clear();
      };
      for (let i = 0; i < b.freshRows; i++) {
        const at = i * 8;
        const path = flat[at] as string;
        const slash = path.lastIndexOf('/');
        // Rows in path order: a directory's run of children costs one slice, not one a row.
        const dirLength = Math.max(1, slash);
        if (dirLength !== lastDir.length || !path.startsWith(lastDir)) {
          lastDir = dirLength === 1 ? '/' : path.slice(0, dirLength);
          touched.add(lastDir);
        }
        // A child of a directory in this statement: the directory goes in first, for its id.
        if (waiting.size > 0 && waiting.has(path.slice(0, slash))) insert();
        flat[at + 7] = parentIdOf(storageId, path, dirIds);
        if (flat[at + 2] === 1) {
          waiting.add(path);
          dirsWritten.push(path);
        }
        if (++n === 100) insert();
      }
      insert();
      if (run) fresh = first;
      else {
        const rows: FreshRow[] = [];
        for (let i = 0; i < b.freshRows; i++) rows.push(flat.slice(i * 8, i * 8 + 7) as FreshRow);
        // Some rows were there already: this batch's rows above `before` are its own.
        const paths = JSON.stringify(rows.map((r) => r[0]));
        const mine = new Map(
          insertedSince().all(storageId, tenantId, before, paths) as [string, number][],
        );
        for (const r of rows) {
          const id = mine.get(r[0]);
          if (id !== undefined) created.push(id, r[2]);
          else {
            const u = updateOne(b, r);
            if (u !== undefined) updated.push(u, r[2]);
            if (u !== undefined && r[2] === 0) unparented.push(u);
          }
        }
      }
    }
    for (const r of JSON.parse(b.changed) as Row[]) {
      if (r[2] === 1) dirsWritten.push(r[0]);
      touched.add(dirOf(r[0]));
      const u = updateOne(b, r);
      if (u !== undefined) {
        updated.push(u, r[2]);
        if (r[2] === 0) unparented.push(u);
        continue;
      }
      const parentId = parentIdOf(storageId, r[0], dirIds);
      const id = insertOne().get(
        tenantId,
        storageId,
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        parentId,
      ) as number | undefined;
      if (id !== undefined) created.push(id, r[2]);
    }
    settle(storageId, dirsWritten, unparented);
    digestsOf(b, touched);
    if (fresh > 0 || created.length > 0) {
      const [upto, last] = backlog().get() as [number, number];
      if (last - upto >= backlogRows) {
        addNames().run(upto, last);
        addSteps().run(upto, last);
        addNameOrder().run(upto, last);
        mark().run(last);
      }
    }
    if (b.outbox && fresh + created.length + updated.length + deleted.length > 0) {
      const ids = (flat: number[], run = 0) => {
        const out: number[] = [];
        for (let i = 0; i < run; i++) out.push(fresh + i);
        for (let i = 0; i < flat.length; i += 2) out.push(flat[i]!);
        return JSON.stringify(out);
      };
      outbox().run(
        tenantId,
        storageId,
        b.scanId,
        ids(created, fresh > 0 ? b.freshRows : 0),
        ids(updated),
        ids(deleted),
        Date.now(),
      );
    }
    return { fresh, created, updated, deleted };
  };
  // better-sqlite3 prepares its 9 transaction statements (BEGIN …, COMMIT, savepoints) at
  // the first `transaction()` of a connection: at the first batch, too.
  const tx = onUse(() => db.transaction(run));
  return (batch) => tx().immediate(batch);
}
