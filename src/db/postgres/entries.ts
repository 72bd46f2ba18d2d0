import type pg from 'pg';
import { subtreeRange } from '../../storage/paths.js';
import { changeEvent, entryFromRow, keysetPages } from '../entries.js';
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
import { AutoAnalyze } from './analyze.js';
import { Compactor, type CompactorOptions } from './compact.js';
import { intArray, textArray } from './arrays.js';
import { copyIn, copyText } from './copy.js';
import { fillOrder } from './fill-order.js';
import { unpackChildren } from './packed.js';
import { removalPlan, type RemovalPlan } from './removals.js';
import { fencedError } from '../errors.js';
import {
  AT_PATHS,
  fenceOf,
  OUTBOX,
  CHILDREN,
  COPY,
  COUNT_SUBTREE,
  DELETE,
  LIST_CHILDREN,
  LIST_SUBTREE,
  nextIds,
  UPSERT,
} from './statements.js';
import { withRetriedTransaction } from './transaction.js';

const UNIQUE_VIOLATION = '23505';
/** Fewer new rows than this go through the upsert: a COPY costs four more round trips. */
const COPY_MIN = 256;
/** Rows per upsert statement: large enough to amortise the round trip, small enough to stream. */
const CHUNK = 10_000;

/**
 * Refuses the transaction's writes when the storage's fence moved on. The fence is read with
 * BEGIN ({@link openingOf}) `FOR SHARE`, which holds the storage row until commit, so a lease
 * grant (which bumps the fence) waits for this batch, and a batch that starts after a grant
 * sees the new fence: no write of a scan that lost its lease lands after its successor
 * began — the COPY fast path included. Checked before anything is written.
 */
function checkFence(scope: EntryScope, result: pg.QueryArrayResult | undefined): void {
  const current = result?.rows[0]?.[0] as number | undefined;
  if (current !== scope.fence) throw fencedError(scope.storageId, scope.fence!, current);
}

/**
 * What a write transaction sends with its BEGIN, in one round trip:
 * - `synchronous_commit = off` for this transaction only: its COMMIT returns once the commit
 *   is in the server's WAL buffers instead of waiting for the disk (3–6 ms a batch here), the
 *   WAL writer flushing it within 3 × `wal_writer_delay`. A crash of the server may then lose
 *   the last batches committed before it, never part of one; the scan's own record, written
 *   at its end with the server's default, flushes every batch before it (the WAL is flushed
 *   in order), so a scan that ended is on disk whole. docs/postgresql.md.
 * - the fence (when the scan holds a lease), the ids a COPY needs, and its savepoint.
 */
function openingOf(
  scope: EntryScope,
  copyRows: number,
): { statements: string[]; fence: number; ids: number } {
  const statements = ['SET LOCAL synchronous_commit = off'];
  let fence = -1;
  let ids = -1;
  if (scope.fence !== undefined) fence = statements.push(fenceOf(scope.storageId)) - 1;
  if (copyRows > 0) {
    ids = statements.push(nextIds(copyRows)) - 1;
    statements.push('SAVEPOINT trawl_copy');
  }
  return { statements, fence, ids };
}

/** The batch's change event, in its own transaction (see EntryScope.outbox). */
async function writeOutbox(
  client: pg.ClientBase,
  scope: EntryScope,
  r: ApplyResult,
): Promise<void> {
  if (!scope.outbox) return;
  const e = changeEvent(r);
  if (!e) return;
  await client.query(OUTBOX, [
    scope.tenantId,
    scope.storageId,
    scope.outbox.scanId,
    e.created,
    e.updated,
    e.deleted,
    Date.now(),
  ]);
}

function byPath(a: EntryWrite, b: EntryWrite): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * A named statement is parsed once per connection. Only for statements whose best plan
 * cannot change with the data: PostgreSQL switches a named statement to a generic plan
 * after five runs, and a generic plan made while `entries` was nearly empty (a sequential
 * scan) stays in use as the table grows to millions of rows.
 */
function query(name: string | undefined, text: string, values: unknown[]): pg.QueryArrayConfig {
  return name === undefined
    ? { text, values, rowMode: 'array' }
    : { name, text, values, rowMode: 'array' };
}

/**
 * Entries on PostgreSQL through `pg` directly: every statement takes whole columns as
 * array parameters, so a batch costs a fixed number of round trips whatever its size and
 * never comes near the 65,535-parameter limit.
 */
export class PostgresEntryRepository implements EntryRepository {
  /** 5,000: a first scan of 1,000,000 entries runs at ~120–130k entries/s, at 1,000 ~80–90k. */
  readonly batchEntries = 5000;
  readonly #pool: pg.Pool;
  readonly #analyze: AutoAnalyze;
  readonly #compactor: Compactor | undefined;

  /** `maintenance`: a connection outside the pool, for a rebuild that outlasts its timeouts. */
  constructor(pool: pg.Pool, maintenance?: () => pg.Client, compactor: CompactorOptions = {}) {
    this.#pool = pool;
    this.#analyze = new AutoAnalyze(pool);
    this.#compactor = maintenance && new Compactor(pool, maintenance, compactor);
  }

  async afterScan(created: number, signal?: AbortSignal): Promise<void> {
    await this.#compactor?.afterScan(created, signal);
  }

  async childrenOf(
    scope: EntryScope,
    dirs: readonly string[],
  ): Promise<Map<string, IndexedEntry[]>> {
    const out = new Map<string, IndexedEntry[]>();
    if (dirs.length === 0) return out;
    const { rows } = await this.#pool.query<[string, string | null]>(
      query(undefined, CHILDREN, [scope.storageId, scope.tenantId, textArray(dirs)]),
    );
    for (const [dir, packed] of rows) if (packed !== null) out.set(dir, unpackChildren(packed));
    return out;
  }

  async lookup(scope: EntryScope, paths: readonly string[]): Promise<Map<string, IndexedEntry>> {
    const out = new Map<string, IndexedEntry>();
    if (paths.length === 0) return out;
    const { rows } = await this.#pool.query<EntryRow>(
      query(undefined, AT_PATHS, [scope.storageId, scope.tenantId, textArray(paths)]),
    );
    for (const r of rows) out.set(r[1], entryFromRow(r));
    return out;
  }

  async apply(
    scope: EntryScope,
    removals: readonly Removal[],
    writes: readonly EntryWrite[],
  ): Promise<ApplyResult> {
    if (removals.length === 0 && writes.length === 0)
      return { created: [], updated: [], deleted: [] };
    // One lock order for every writer: overlapping scans wait for each other, not deadlock.
    const sorted = [...writes].sort(byPath);
    const plan = removalPlan(removals);
    const fresh = sorted.filter((w) => w.isNew === true);
    const copying = fresh.length >= COPY_MIN;
    let result: ApplyResult;
    if (
      !copying &&
      plan.paths.length === 0 &&
      sorted.length <= CHUNK &&
      scope.fence === undefined &&
      !scope.outbox
    ) {
      // A lone upsert is atomic by itself: no BEGIN/COMMIT round trips. (A fenced one needs
      // its fence checked under a lock in the same transaction: the path below.)
      result = { created: [], updated: [], deleted: [] };
      await this.#upsert(this.#pool, scope, sorted, result);
    } else {
      const open = openingOf(scope, copying ? fresh.length : 0);
      const known = copying ? sorted.filter((w) => w.isNew !== true) : sorted;
      result = await withRetriedTransaction(
        this.#pool,
        async (client, opened) => {
          const r: ApplyResult = { created: [], updated: [], deleted: [] };
          // Built while BEGIN and its companions are on their way.
          const copied = copying ? fillOrder(fresh) : [];
          const rows = copyRows(scope, copied);
          const results = await opened;
          if (open.fence >= 0) checkFence(scope, results[open.fence]);
          await this.#delete(client, scope, plan, r);
          if (copying) {
            const ids = results[open.ids]!.rows as [number][];
            await this.#copyOrUpsert(client, scope, fresh, copied, rows, ids, r);
          }
          await this.#upsert(client, scope, known, r);
          await writeOutbox(client, scope, r);
          return r;
        },
        open.statements,
      );
    }
    await this.#analyze.afterWrite(result.created.length);
    return result;
  }

  async #delete(
    client: pg.PoolClient,
    scope: EntryScope,
    plan: RemovalPlan,
    into: ApplyResult,
  ): Promise<void> {
    if (plan.paths.length === 0) return;
    const { rows } = await client.query<[number, number]>(
      query(undefined, DELETE, [
        scope.storageId,
        scope.tenantId,
        textArray(plan.paths),
        textArray(plan.lower),
        textArray(plan.upper),
      ]),
    );
    for (const [id, isDir] of rows) into.deleted.push({ id, isDir: isDir === 1 });
  }

  async #upsert(
    client: pg.Pool | pg.PoolClient,
    scope: EntryScope,
    writes: readonly EntryWrite[],
    into: ApplyResult,
  ): Promise<void> {
    for (let start = 0; start < writes.length; start += CHUNK) {
      const { rows } = await client.query<[number, number, boolean]>(
        query('trawl_upsert', UPSERT, [
          scope.tenantId,
          scope.storageId,
          ...columns(writes, start, CHUNK),
        ]),
      );
      for (const [id, isDir, inserted] of rows) {
        const ref: EntryRef = { id, isDir: isDir === 1 };
        (inserted ? into.created : into.updated).push(ref);
      }
    }
  }

  /**
   * Rows the diff found new go in by COPY, two to three times faster than the upsert
   * (measured: bench/db.js). A COPY is all or nothing, so when an overlapping scan has
   * inserted one of them meanwhile (unique violation), the savepoint (taken with BEGIN)
   * undoes the COPY and the upsert does the work, counting exactly as ever. `copied` is
   * `writes` in the order of `rows` (see fillOrder); the upsert takes `writes`, in path order.
   */
  async #copyOrUpsert(
    client: pg.PoolClient,
    scope: EntryScope,
    writes: readonly EntryWrite[],
    copied: readonly EntryWrite[],
    rows: readonly string[],
    ids: readonly [number][],
    into: ApplyResult,
  ): Promise<void> {
    let data = '';
    for (let i = 0; i < rows.length; i++) data += `${ids[i]![0]}${rows[i]}`;
    try {
      await copyIn(client, COPY, Buffer.from(data));
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      await client.query('ROLLBACK TO SAVEPOINT trawl_copy');
      await this.#upsert(client, scope, writes, into);
      return;
    }
    for (let i = 0; i < copied.length; i++)
      into.created.push({ id: ids[i]![0], isDir: copied[i]!.isDir });
  }

  async countSubtree(scope: EntryScope, dir: string): Promise<{ files: number; dirs: number }> {
    const { lower, upper } = subtreeRange(dir);
    const { rows } = await this.#pool.query<[number, number]>(
      query(undefined, COUNT_SUBTREE, [scope.storageId, scope.tenantId, lower, upper]),
    );
    const [files, dirs] = rows[0] ?? [0, 0];
    return { files, dirs };
  }

  async *list(
    scope: EntryScope,
    dir: string,
    options: ListEntriesOptions = {},
  ): AsyncIterable<IndexedEntry> {
    const { lower, upper } = subtreeRange(dir);
    const { storageId, tenantId } = scope;
    yield* keysetPages(options.recursive ? lower : '', async (after) => {
      const { rows } = await this.#pool.query<EntryRow>(
        options.recursive
          ? query(undefined, LIST_SUBTREE, [storageId, tenantId, after, upper])
          : query(undefined, LIST_CHILDREN, [storageId, tenantId, dir, after]),
      );
      return rows;
    });
  }
}

/** The UPSERT's seven column arrays for writes[start, start + count), as array literals. */
function columns(writes: readonly EntryWrite[], start: number, count: number): string[] {
  const end = Math.min(writes.length, start + count);
  const path: string[] = [];
  const name: string[] = [];
  const isDir: number[] = [];
  const size: number[] = [];
  const mtime: number[] = [];
  const etag: (string | null)[] = [];
  const media: (string | null)[] = [];
  for (let i = start; i < end; i++) {
    const w = writes[i]!;
    path.push(w.path);
    name.push(w.name);
    isDir.push(w.isDir ? 1 : 0);
    size.push(w.size);
    mtime.push(w.mtime);
    etag.push(w.etag);
    media.push(w.mediaKind);
  }
  return [
    textArray(path),
    textArray(name),
    intArray(isDir),
    intArray(size),
    intArray(mtime),
    textArray(etag),
    textArray(media),
  ];
}

/** Each write as a line of COPY's text format, all but the leading id (drawn with BEGIN). */
function copyRows(scope: EntryScope, writes: readonly EntryWrite[]): string[] {
  const head = `\t${scope.tenantId}\t${scope.storageId}\t`;
  const out: string[] = [];
  for (const w of writes) {
    out.push(
      `${head}${copyText(w.path)}\t${copyText(w.name)}\t${
        w.isDir ? 1 : 0
      }\t${Math.floor(w.size)}\t${Math.floor(w.mtime)}\t${copyText(w.etag)}\t${copyText(w.mediaKind)}\n`,
    );
  }
  return out;
}
