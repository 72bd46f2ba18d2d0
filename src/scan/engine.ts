import { setMaxListeners } from 'node:events';
import type { EntryRepository, EntryScope } from '../db/entries.js';
import { StorageError, toStorageError } from '../storage/errors.js';
import { ROOT } from '../storage/paths.js';
import type { StorageHandle } from '../storage/service.js';
import type { Entry } from '../storage/types.js';
import { Channel } from './channel.js';
import { diffDirectory, emptyDiff, type DirDiff } from './diff.js';
import { Frontier } from './frontier.js';
import { checkListing } from './listing.js';
import { abortable } from './abortable.js';
import {
  emptyCounters,
  type ChangeSink,
  type FinalStatus,
  type ScanCounters,
  type ScanProgress,
  type ScanResult,
} from './result.js';

/** Listing tasks when neither the caller nor the storage's limits say otherwise. */
export const DEFAULT_LISTERS = 8;

export interface ScanOptions {
  /** Directories below the root to descend; 1 lists the root only. @default Infinity */
  maxDepth?: number;
  /** false is the same as maxDepth 1. @default true */
  recursive?: boolean;
  /** Concurrent listing tasks (the StorageService still caps requests). @default {@link DEFAULT_LISTERS}; the runner brings 2 × the storage's maxConcurrency when that is more */
  listers?: number;
  /** Entries per reconciliation batch (one transaction). @default the index's own ({@link EntryRepository.batchEntries}) */
  batchEntries?: number;
  /** A batch is written at the latest this long after its first listing arrived. @default 250 */
  batchMs?: number;
  /** Entries that may wait between the listers and the reconciler. @default 4 × batchEntries */
  channelEntries?: number;
  /** Read the index and count what would change, write nothing. @default false */
  dryRun?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: ScanProgress) => void;
  /** @default 250 */
  progressIntervalMs?: number;
  /** Called after each committed batch with the ids it changed. */
  onChanges?: ChangeSink;
  /** Errors kept with path and message; the rest are only counted. @default 20 */
  errorSampleSize?: number;
}

export interface ScanEngineDeps {
  storage: StorageHandle;
  entries: EntryRepository;
  /** Extra counters from the storage layer (retries, rate-limit waits), read at the end. */
  storageStats?: () => { retries: number; rateLimitWaits: number };
}

interface Listing {
  dir: string;
  entries: Entry[];
}

/**
 * One scan of one storage: N listers walk the tree breadth-first and hand complete
 * listings through a bounded channel to one reconciler, which diffs each listed directory
 * against the index and writes the differences a batch per transaction.
 *
 * Deletion happens only per successfully listed directory, so memory does not grow with
 * the tree and a directory that could not be listed keeps its index entries.
 */
export async function scan(
  deps: ScanEngineDeps,
  scope: EntryScope,
  options: ScanOptions = {},
): Promise<ScanResult> {
  return new ScanRun(deps, scope, options).run();
}

class ScanRun {
  readonly #deps: ScanEngineDeps;
  readonly #scope: EntryScope;
  readonly #maxDepth: number;
  readonly #listers: number;
  readonly #batchEntries: number;
  readonly #batchMs: number;
  readonly #dryRun: boolean;
  readonly #opts: ScanOptions;
  readonly #started = Date.now();
  readonly #counters: ScanCounters = emptyCounters();
  readonly #frontier = new Frontier();
  readonly #channel: Channel<Listing>;
  /** Aborts in-flight listings on cancellation or on a fatal error. */
  readonly #internal = new AbortController();
  #dirsListed = 0;
  #rootFailed = false;
  /** The caller's signal stopped the scan before it was done. */
  #cancelled = false;
  #fatal: unknown;

  constructor(deps: ScanEngineDeps, scope: EntryScope, options: ScanOptions) {
    this.#deps = deps;
    this.#scope = scope;
    this.#opts = options;
    this.#maxDepth = options.recursive === false ? 1 : (options.maxDepth ?? Infinity);
    this.#listers = options.listers ?? DEFAULT_LISTERS;
    this.#batchEntries = options.batchEntries ?? deps.entries.batchEntries;
    this.#batchMs = options.batchMs ?? 250;
    this.#dryRun = options.dryRun ?? false;
    this.#channel = new Channel(options.channelEntries ?? this.#batchEntries * 4);
    // Every request in flight listens to this signal (here, in the service, in the backend):
    // many listeners are expected, not a leak.
    setMaxListeners(0, this.#internal.signal);
    for (const [name, value] of [
      ['maxDepth', this.#maxDepth],
      ['listers', this.#listers],
      ['batchEntries', this.#batchEntries],
    ] as const) {
      if (!(value >= 1) || (value !== Infinity && !Number.isInteger(value))) {
        throw new RangeError(`Expected \`${name}\` to be an integer from 1 and up, got ${value}`);
      }
    }
  }

  async run(): Promise<ScanResult> {
    const signal = this.#opts.signal;
    const onAbort = () => {
      if (!this.#internal.signal.aborted) this.#cancelled = true;
      this.#stop();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const ticker = this.#opts.onProgress
      ? setInterval(() => this.#emitProgress(), this.#opts.progressIntervalMs ?? 250)
      : undefined;
    ticker?.unref();
    try {
      if (signal?.aborted) onAbort();
      const reconciling = this.#reconcileLoop();
      await this.#walk();
      this.#channel.close();
      await reconciling;
    } finally {
      if (ticker) clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
    }
    this.#emitProgress();
    return this.#result();
  }

  async #walk(): Promise<void> {
    const storage = this.#deps.storage;
    if (storage.listTree && this.#maxDepth === Infinity) {
      await this.#walkTree(storage.listTree.bind(storage));
      return;
    }
    this.#frontier.push({ dir: ROOT, depth: 0 });
    const listers = Array.from({ length: this.#listers }, () => this.#lister());
    await Promise.all(listers);
  }

  async #lister(): Promise<void> {
    for (;;) {
      const item = await this.#frontier.next();
      if (!item) return;
      try {
        const signal = this.#internal.signal;
        const entries = await abortable(this.#deps.storage.list(item.dir, { signal }), signal);
        checkListing(item.dir, entries);
        this.#dirsListed++;
        // The listing enters the (FIFO) channel before its subdirectories are queued, so a
        // parent is always reconciled no later than its children: a scan stopped between
        // batches never leaves entries indexed under a directory the index does not hold.
        if (!(await this.#channel.put({ dir: item.dir, entries }, entries.length + 1))) continue;
        if (item.depth + 1 < this.#maxDepth) {
          for (const e of entries)
            if (e.isDir && !e.skip) this.#frontier.push({ dir: e.path, depth: item.depth + 1 });
        }
      } catch (error) {
        this.#listingFailed(item.dir, error);
      } finally {
        this.#frontier.done();
      }
    }
  }

  async #walkTree(listTree: NonNullable<StorageHandle['listTree']>): Promise<void> {
    const signal = this.#internal.signal;
    const listings = listTree(ROOT, { signal })[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await abortable(listings.next(), signal);
        if (next.done) return;
        const listing = next.value;
        checkListing(listing.dir, listing.entries);
        this.#dirsListed++;
        if (!(await this.#channel.put(listing, listing.entries.length + 1))) break;
      }
      await listings.return?.();
    } catch (error) {
      // A generator stuck in a request would never finish its return(): do not wait on it.
      void listings.return?.()?.catch(() => undefined);
      // Listings already yielded were complete and stay reconciled; nothing is deleted on
      // the strength of what the failed listing did not return.
      this.#listingFailed(ROOT, error, this.#dirsListed === 0);
    }
  }

  #listingFailed(dir: string, error: unknown, isRoot = dir === ROOT): void {
    if (this.#internal.signal.aborted) return; // cancelled or already failing: not the directory's fault
    const e = toStorageError(error, dir);
    this.#recordError(e.path ?? dir, e.code, e.message);
    if (isRoot) {
      // A root that cannot be listed (storage offline, root gone) fails the scan and must
      // change nothing: there is nothing to reconcile, and nothing else was queued.
      this.#rootFailed = true;
      this.#stop();
    }
  }

  #recordError(path: string, code: string, message: string): void {
    this.#counters.errors++;
    if (this.#counters.errorSample.length < (this.#opts.errorSampleSize ?? 20)) {
      this.#counters.errorSample.push({ path, code, message });
    }
  }

  async #reconcileLoop(): Promise<void> {
    try {
      for (;;) {
        const batch = await this.#channel.takeBatch(this.#batchEntries, this.#batchMs);
        if (batch.length === 0) return;
        if (this.#internal.signal.aborted) continue; // draining after a stop: drop, write nothing more
        await this.#reconcile(batch);
      }
    } catch (error) {
      this.#fatal = error;
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof SinkError) this.#recordError(ROOT, 'CHANGE_SINK', message);
      else this.#recordError(ROOT, 'INDEX', `index write failed: ${message}`);
      this.#stop();
    }
  }

  async #reconcile(batch: Listing[]): Promise<void> {
    const { entries } = this.#deps;
    const indexed = await entries.childrenOf(
      this.#scope,
      batch.map((l) => l.dir),
    );
    const diff = emptyDiff();
    for (const l of batch) diffDirectory(l.dir, l.entries, indexed.get(l.dir), diff);
    const c = this.#counters;
    if (this.#dryRun) {
      let deleted = 0;
      for (const r of diff.removals) {
        deleted += r.isDir ? (await entries.countSubtree(this.#scope, r.path)).files : 1;
      }
      countListed(c, diff);
      c.created += diff.newFiles;
      c.updated += diff.changedFiles;
      c.deleted += deleted;
      return;
    }
    const applied = await entries.apply(this.#scope, diff.removals, diff.writes);
    // Counted once committed: a batch that failed to write, or a scan stopped before it,
    // adds nothing, so a cancelled scan's counters say exactly what the index holds.
    countListed(c, diff);
    const created = applied.created.filter((r) => !r.isDir).length;
    const updated = applied.updated.filter((r) => !r.isDir).length;
    c.created += created;
    c.updated += updated;
    c.deleted += applied.deleted.filter((r) => !r.isDir).length;
    // A write the database found already done (an overlapping scan got there first) is unchanged.
    c.unchanged += diff.newFiles + diff.changedFiles - created - updated;
    if (
      this.#opts.onChanges &&
      (applied.created.length || applied.updated.length || applied.deleted.length)
    ) {
      try {
        await this.#opts.onChanges({
          created: applied.created.map((r) => r.id),
          updated: applied.updated.map((r) => r.id),
          deleted: applied.deleted.map((r) => r.id),
        });
      } catch (error) {
        // The batch is committed but downstream missed it: the scan must not pass as clean.
        throw new SinkError(`change sink failed: ${(error as Error)?.message ?? String(error)}`);
      }
    }
  }

  #stop(): void {
    if (this.#internal.signal.aborted) return;
    this.#internal.abort(new StorageError('CANCELLED', 'scan stopped'));
    this.#frontier.stop();
    this.#channel.discard();
  }

  #status(): FinalStatus {
    if (this.#fatal !== undefined || this.#rootFailed) return 'failed';
    if (this.#cancelled) return 'cancelled';
    return this.#counters.errors > 0 ? 'partial' : 'succeeded';
  }

  #result(): ScanResult {
    const stats = this.#deps.storageStats?.();
    return {
      ...this.#counters,
      retries: stats?.retries ?? 0,
      rateLimitWaits: stats?.rateLimitWaits ?? 0,
      durationMs: Date.now() - this.#started,
      status: this.#status(),
    };
  }

  #emitProgress(): void {
    const onProgress = this.#opts.onProgress;
    if (!onProgress) return;
    const c = this.#counters;
    const stats = this.#deps.storageStats?.();
    const progress: ScanProgress = {
      dirsListed: this.#dirsListed,
      dirsQueued: this.#frontier.queued,
      dirs: c.dirs,
      files: c.files,
      bytes: c.bytes,
      created: c.created,
      updated: c.updated,
      deleted: c.deleted,
      unchanged: c.unchanged,
      skipped: c.skipped,
      errors: c.errors,
      retries: stats?.retries ?? 0,
      rateLimitWaits: stats?.rateLimitWaits ?? 0,
      elapsedMs: Date.now() - this.#started,
    };
    try {
      onProgress(progress);
    } catch {
      // A display that fails (a closed terminal) must not take the scan down from a timer.
    }
  }
}

function countListed(c: ScanCounters, diff: DirDiff): void {
  c.dirs += diff.dirs;
  c.files += diff.files;
  c.mediaFiles += diff.mediaFiles;
  c.bytes += diff.bytes;
  c.skipped += diff.skipped;
  c.unchanged += diff.unchangedFiles;
}

class SinkError extends Error {
  override name = 'SinkError';
}
