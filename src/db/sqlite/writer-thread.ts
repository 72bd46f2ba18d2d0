import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { entryWriter, type PackedBatch, type PackedResult } from './entry-writer.js';

/**
 * SQLite's entry writes on a thread of their own (docs/index-database.md, "The writer
 * thread"). better-sqlite3 runs a statement synchronously on the calling thread: on the main
 * thread a scan's listing, decoding and diffing waited for every batch to commit, ~2.3 s
 * of a 200,000-file first scan (docs/benchmarks.md). Here a second connection to the same
 * file, in a worker thread, writes the batches while the main thread goes on; WAL lets the
 * main connection read beside it, and every batch's result comes back once committed, so a
 * caller that awaits `apply` reads its own writes as before.
 *
 * The thread runs {@link entryWriter} from its source text, as the listing threads do
 * (local-worker.ts): the same from compiled JS, from the bundle and from TypeScript under the
 * test runner.
 */

export interface WriterThreadOptions {
  /** The index file (never `:memory:`: another connection could not see it). */
  file: string;
  /** The connection's busy timeout: how long a batch waits for another process's lock. */
  busyTimeoutMs: number;
  /** The name index's backlog the writer leaves (name-index.ts). */
  backlogRows: number;
}

interface ThreadConfig extends WriterThreadOptions {
  /** better-sqlite3's entry file, resolved here (the thread has no module of its own to resolve from). */
  driver: string;
}

/**
 * `after`: the batch of the same storage posted before this one and not answered yet. When
 * it failed, this one fails with its error unwritten: a scan hands a batch on before the one
 * before it has committed (Reconciler.reconcile) and stops at that failure, so writing it
 * would only cost another busy timeout on a locked index.
 */
type Request =
  | { id: number; after: number; batch: PackedBatch }
  | { id: number; progress: { scanId: number; json: string } }
  | { close: true };
type Failure = { message: string; code?: unknown; name?: unknown };
type Reply =
  | { id: number; result: PackedResult }
  | { id: number; cancel: boolean }
  | { id: number; error: Failure };

/** The thread's body: its own connection, the writer, one message a batch. */
function threadMain(makeWriter: typeof entryWriter): void {
  // Not require(): this function runs from its source text, and a bundler rewrites
  // require() calls into a helper the thread does not have (scripts/bundle.js).
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const { createRequire } = process.getBuiltinModule('node:module');
  const config = workerData as ThreadConfig;
  const Database = createRequire(config.driver)(config.driver) as typeof import('better-sqlite3');
  let db: import('better-sqlite3').Database | undefined;
  let write: ((b: PackedBatch) => PackedResult) | undefined;
  let progress: ((scanId: number, json: string) => boolean) | undefined;
  let failed: unknown;
  /** Batches that failed, until the one posted after them comes (see Request). */
  const failures = new Map<number, Failure>();
  /** The last batch's failure, until a batch is written (see the progress writes). */
  let lastFailure: Failure | undefined;
  try {
    db = new Database(config.file, { fileMustExist: true, timeout: config.busyTimeoutMs });
    // As the main connection (connect.ts): WAL is the file's already.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // 4 MB: a 1,000,000-file first scan measured no slower than with 8 (connect.ts).
    db.pragma('cache_size = -4096');
    write = makeWriter(db, config.backlogRows);
    const open = db;
    let statements: [import('better-sqlite3').Statement, import('better-sqlite3').Statement];
    // sqlite/bookkeeping.ts's writeProgress, written out (nothing is imported here).
    progress = (scanId, json) => {
      statements ??= [
        open.prepare('UPDATE scans SET progress = ? WHERE id = ? AND status = ?'),
        open.prepare('SELECT cancel_requested FROM scans WHERE id = ?').pluck(),
      ];
      statements[0].run(json, scanId, 'running');
      return Number(statements[1].get(scanId)) === 1;
    };
  } catch (error) {
    failed = error;
  }
  /** An error as a reply carries it (an Error does not cross to the calling thread whole). */
  const failureOf = (error: unknown): Failure => {
    const e = error as { message?: unknown; code?: unknown; name?: unknown } | undefined;
    return { message: String(e?.message ?? error), code: e?.code, name: e?.name };
  };
  parentPort!.on('message', (m: Request) => {
    if ('close' in m) {
      db?.close();
      parentPort!.close();
      return;
    }
    if ('progress' in m) {
      try {
        if (!progress) throw failed;
        // Behind a failed batch the scan is ending: not another busy timeout for its progress.
        if (lastFailure) throw lastFailure;
        const cancel = progress(m.progress.scanId, m.progress.json);
        parentPort!.postMessage({ id: m.id, cancel } satisfies Reply);
      } catch (error) {
        parentPort!.postMessage({ id: m.id, error: failureOf(error) } satisfies Reply);
      }
      return;
    }
    const before = failures.get(m.after);
    failures.delete(m.after);
    if (before) {
      failures.set(m.id, before);
      parentPort!.postMessage({ id: m.id, error: before } satisfies Reply);
      return;
    }
    try {
      if (!write) throw failed;
      parentPort!.postMessage({ id: m.id, result: write(m.batch) } satisfies Reply);
      lastFailure = undefined;
    } catch (error) {
      const failure = failureOf(error);
      // Kept until the batch posted after it comes (one entry a failure, which stops its scan).
      failures.set(m.id, failure);
      lastFailure = failure;
      parentPort!.postMessage({ id: m.id, error: failure } satisfies Reply);
    }
  });
}

const SOURCE = `(${threadMain.toString()})(${entryWriter.toString()})`;

/**
 * A V8 heap of its own, small: a batch's strings and results die young. The old generation
 * keeps the main thread's limit (bin/trawl.js): deleting a large subtree returns its ids.
 */
const RESOURCES = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 1024 };

/** The native error a batch failed with, as the main thread sees it (its `code` classifies it). */
class WriterError extends Error {
  readonly code: unknown;
  constructor(e: { message: string; code?: unknown; name?: unknown }) {
    super(e.message);
    this.code = e.code;
    if (typeof e.name === 'string') this.name = e.name;
  }
}

interface Waiter {
  resolve(r: PackedResult | boolean): void;
  reject(e: unknown): void;
}

export class WriterThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiter>();
  /** The last batch posted for each storage (`tenant:storage`), while unanswered. */
  readonly #lastOf = new Map<string, number>();
  #next = 1;
  #closing = false;
  /** Why no batch can be written any more (the thread died or was closed). */
  #dead: Error | undefined;
  #exited: Promise<void>;

  constructor(options: WriterThreadOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(SOURCE, {
      eval: true,
      workerData: { ...options, driver } satisfies ThreadConfig,
      resourceLimits: RESOURCES,
    });
    // Only a batch in flight keeps the process alive (see #settle).
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => this.#settle(reply));
    this.#worker.on('error', (error) => this.#die(error));
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', () => {
        this.#die(new Error('the index writer thread exited'));
        resolve();
      }),
    );
  }

  /** Writes one batch in the thread; resolves once it committed (or rejects: rolled back). */
  apply(batch: PackedBatch): Promise<PackedResult> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    const key = `${batch.tenantId}:${batch.storageId}`;
    const last = this.#lastOf.get(key);
    const after = last !== undefined && this.#waiting.has(last) ? last : 0;
    this.#lastOf.set(key, id);
    return this.#post<PackedResult>({ id, after, batch });
  }

  /**
   * A running scan's progress written to its row in the thread, after the batches posted
   * before it; resolves to whether a cancel was asked (sqlite/bookkeeping.ts). On the main
   * connection the write waited for this thread's write lock inside SQLite's busy handler —
   * sleeps of up to 100 ms with the event loop blocked, so that nothing was listed or
   * handed on meanwhile and the writer ran dry (docs/benchmarks.md, "Seventh round").
   */
  writeProgress(scanId: number, json: string): Promise<boolean> {
    if (this.#dead) return Promise.reject(this.#dead);
    return this.#post<boolean>({ id: this.#next++, progress: { scanId, json } });
  }

  /** Posts a request and waits for its reply; the thread keeps the process alive meanwhile. */
  #post<T extends PackedResult | boolean>(request: Request & { id: number }): Promise<T> {
    const done = new Promise<T>((resolve, reject) =>
      this.#waiting.set(request.id, { resolve: resolve as Waiter['resolve'], reject }),
    );
    if (this.#waiting.size === 1) this.#worker.ref();
    this.#worker.postMessage(request);
    return done;
  }

  /** Whether batches can still be written here (not closed, not dead). */
  get alive(): boolean {
    return this.#dead === undefined && !this.#closing;
  }

  /** Lets the batches in flight finish, then closes the thread's connection and the thread. */
  async close(): Promise<void> {
    this.#closing = true;
    if (!this.#dead) {
      // Messages are handled in order: every batch posted before is answered first.
      this.#worker.postMessage({ close: true } satisfies Request);
      this.#worker.ref();
    }
    await this.#exited;
  }

  #settle(reply: Reply): void {
    const waiter = this.#waiting.get(reply.id);
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#lastOf.clear();
    // Once closing, the thread keeps the process alive until it exits: a reply that comes
    // after close() (a progress write still in flight) must not let the process end with
    // close() unresolved.
    if (this.#waiting.size === 0 && !this.#closing) this.#worker.unref();
    if (!waiter) return;
    if ('error' in reply) waiter.reject(new WriterError(reply.error));
    else if ('cancel' in reply) waiter.resolve(reply.cancel);
    else waiter.resolve(reply.result);
  }

  #die(error: Error): void {
    this.#dead ??= error;
    for (const w of this.#waiting.values()) w.reject(error);
    this.#waiting.clear();
  }
}
