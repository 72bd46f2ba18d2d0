import type pg from 'pg';

/**
 * The B-trees a first scan leaves half full (docs/index-database.md, "Issue 12, bytes"):
 * each batch inserts ascending runs of keys into the middle of these, and PostgreSQL splits
 * such a page 50/50, the left half never touched again. Rebuilt they are 30–40 % smaller.
 * Not the primary key (ids only grow: its pages are full), nor the GIN trigram index
 * (−11 bytes an entry for 10.3 s at 1,000,000 entries, three times the others together),
 * nor the small partial and time-step indexes (−2.5 bytes for 1.4 s).
 */
const HALF_FULL = [
  // Since 020 a deduplicated (storage_id, parent hash, is_dir) index: 9.3 → 7.3 bytes an
  // entry rebuilt (media tree), 0.9 s at 1,000,000 entries; kept for the margin it gives
  // the bytes target.
  'entries_storage_parent_name',
  'entries_storage_path',
  // 014's two name orders (012's single one before it, on an index not yet migrated).
  'entries_tenant_kind_name',
  'entries_tenant_plain_name',
  'entries_tenant_name',
];

/** @default 100,000: below that a rebuild gives back a few MB at most. */
export const COMPACT_MIN_ROWS = 100_000;

/** One compaction at a time across every process sharing the database. */
const LOCK_KEY = 0x7472_6177_6c31; // "trawl1"

/**
 * A writer that waits longer than this for a lock (another compaction's, a VACUUM's, a
 * transaction that started before the rebuild) gives the rebuild up: it is an
 * optimisation, never worth holding anyone up.
 */
const LOCK_TIMEOUT_MS = 10_000;

export interface CompactorOptions {
  /** @default {@link COMPACT_MIN_ROWS} */
  minRows?: number;
  /** @default 10,000 ms */
  lockTimeoutMs?: number;
  /** How long a scan's end waits for the rebuild. @default {@link waitBudgetMs} */
  maxWaitMs?: number;
}

/**
 * How long a scan's end waits for the rebuild of `created` rows' indexes: a minute, or
 * 0.1 ms a row (100 s at 1,000,000; the rebuild takes ~4 s there on this machine). The
 * rebuild runs without a statement timeout, so a server that stops answering (frozen, its
 * link cut without a reset) would otherwise hold the scan's end, and the CLI's exit, for
 * ever, after the scan itself is recorded.
 */
export function waitBudgetMs(created: number): number {
  return Math.max(60_000, created / 10);
}

/**
 * One call of `afterScan`: whether its caller gave it up (nothing more is started for it),
 * and its connection and that connection's server process while open. Per call, not per
 * compactor: a worker's concurrent scans each end with a call of their own.
 */
interface Call {
  stopped: boolean;
  client?: pg.Client | undefined;
  pid?: number | undefined;
}

/** After the cancel is sent, how long the rebuild's own connection may take to end. */
const CANCEL_GRACE_MS = 1_000;

/**
 * Rebuilds `entries`' half-full B-trees after a scan that created most of the table: a
 * first scan of a storage, or a first load of the index. `REINDEX INDEX CONCURRENTLY`:
 * scans of other storages go on writing while it runs (it takes no lock that blocks their
 * writes). It runs on a connection of its own, outside the pool, because a rebuild of a
 * large index outlasts the pool's per-statement timeouts by design.
 *
 * A rebuild that fails or is cut off (a lock timeout, a crash, the process killed) leaves
 * an invalid copy (`…_ccnew`) that every write would maintain until dropped: each call
 * first drops such leftovers, under the same advisory lock, so no one else is building one.
 * Nothing here throws: a failure costs only the bytes.
 */
export class Compactor {
  readonly #pool: pg.Pool;
  readonly #connect: () => pg.Client;
  readonly #minRows: number;
  readonly #lockTimeoutMs: number;
  readonly #maxWaitMs: number | undefined;

  /** `pool`: for the cheap look first; `connect`: the connection a rebuild runs on. */
  constructor(pool: pg.Pool, connect: () => pg.Client, options: CompactorOptions = {}) {
    this.#pool = pool;
    this.#connect = connect;
    this.#minRows = options.minRows ?? COMPACT_MIN_ROWS;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? LOCK_TIMEOUT_MS;
    this.#maxWaitMs = options.maxWaitMs;
  }

  /**
   * After a scan that created `created` rows; resolves once done or given up. `signal`
   * (Ctrl-C, a lost lease) and the wait's budget ({@link waitBudgetMs}) resolve it at once:
   * the statement in flight is cancelled on the server, and what it leaves is dropped as
   * any interrupted rebuild's.
   */
  async afterScan(created: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    const call: Call = { stopped: false };
    let stop = () => undefined as void;
    const stopped = new Promise<void>((resolve) => {
      stop = () => {
        call.stopped = true;
        resolve();
        this.#cancel(call);
      };
    });
    signal?.addEventListener('abort', stop, { once: true });
    const budget = setTimeout(stop, this.#maxWaitMs ?? waitBudgetMs(created));
    try {
      await Promise.race([this.#run(created, call), stopped]);
    } finally {
      clearTimeout(budget);
      signal?.removeEventListener('abort', stop);
    }
  }

  /**
   * Cancels the statement in flight on the server; if its connection has not ended a
   * moment later (a server that answers nothing hears no cancel), cuts it, so that no
   * socket is left to keep the process alive.
   */
  #cancel(call: Call): void {
    const { client, pid } = call;
    if (client === undefined) return;
    if (pid !== undefined) {
      this.#pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    }
    const cut = setTimeout(() => {
      if (call.client === client) {
        (
          client as pg.Client & { connection?: { stream?: { destroy(): void } } }
        ).connection?.stream?.destroy();
      }
    }, CANCEL_GRACE_MS);
    cut.unref();
  }

  async #run(created: number, call: Call): Promise<void> {
    let client: pg.Client | undefined;
    try {
      // The usual case, a scan of a few changes: one catalog look on the pool, no new
      // connection.
      if (created < this.#minRows && !(await hasLeftovers(this.#pool))) return;
      if (call.stopped) return;
      client = this.#connect();
      call.client = client;
      // A connection cut (by #cancel, the server, the network) fails the query in flight,
      // which the catch below takes; without a listener pg would also throw it as an
      // uncaught 'error' event when no query is in flight, and end the process.
      client.on('error', () => undefined);
      await client.connect();
      call.pid = (client as pg.Client & { processID?: number }).processID;
      await client.query(
        `SET statement_timeout = 0; SET lock_timeout = ${Math.round(this.#lockTimeoutMs)}`,
      );
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1) AS locked',
        [LOCK_KEY],
      );
      if (!rows[0]?.locked) return;
      await dropLeftovers(client);
      if (created < this.#minRows || !(await mostOfTable(client, created))) return;
      for (const name of await existing(client)) {
        if (call.stopped) return;
        try {
          await client.query(`REINDEX INDEX CONCURRENTLY ${name}`);
        } catch {
          await dropLeftovers(client);
          return;
        }
      }
      // The rebuilt indexes are new relations: the planner's figures for them come now.
      await client.query('ANALYZE entries');
    } catch {
      // The bytes stay as they were; the next large scan tries again.
    } finally {
      // Ending the session releases the advisory lock and its settings with it.
      call.pid = undefined;
      call.client = undefined;
      await client?.end().catch(() => undefined);
    }
  }
}

/** Whether `created` is at least half of the rows `entries` holds. */
async function mostOfTable(client: pg.Client, created: number): Promise<boolean> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'entries'::regclass`,
  );
  return created * 2 >= (rows[0]?.n ?? 0);
}

async function existing(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT relname AS name FROM pg_class WHERE relname = ANY($1) AND relkind = 'i'`,
    [HALF_FULL],
  );
  return HALF_FULL.filter((n) => rows.some((r) => r.name === n));
}

/** The invalid copies an interrupted REINDEX CONCURRENTLY leaves on `entries`. */
const LEFTOVERS = `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE i.indrelid = 'entries'::regclass AND NOT i.indisvalid
    AND c.relname ~ '_cc(new|old)[0-9]*$'`;

async function hasLeftovers(pool: pg.Pool): Promise<boolean> {
  return (await pool.query(LEFTOVERS)).rows.length > 0;
}

/** Drops what an interrupted REINDEX CONCURRENTLY left on `entries`. */
async function dropLeftovers(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ name: string }>(LEFTOVERS);
  for (const { name } of rows) {
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS "${name}"`);
  }
}
